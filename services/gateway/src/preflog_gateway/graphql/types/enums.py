"""Enums of API.md."""

from __future__ import annotations

from enum import Enum

import strawberry

from preflog_gateway.graphql.content import ContentFormat

ContentFormatEnum = strawberry.enum(ContentFormat, name="ContentFormat")


@strawberry.enum
class OrgRole(Enum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


@strawberry.enum
class ProjectRole(Enum):
    OWNER = "OWNER"
    MANAGER = "MANAGER"
    REVIEWER = "REVIEWER"
    ANNOTATOR = "ANNOTATOR"


@strawberry.enum
class QualityMode(Enum):
    BENCHMARK = "BENCHMARK"
    CONSENSUS = "CONSENSUS"


@strawberry.enum
class RankMode(Enum):
    FULL_ORDER = "FULL_ORDER"
    SCALE_0_3 = "SCALE_0_3"


@strawberry.enum
class QuestionKind(Enum):
    RADIO = "RADIO"
    CHECKLIST = "CHECKLIST"
    TEXT = "TEXT"
    SCALE = "SCALE"
    YES_NO = "YES_NO"


@strawberry.enum
class QuestionScope(Enum):
    GLOBAL = "GLOBAL"
    MESSAGE = "MESSAGE"
    RESPONSE = "RESPONSE"


@strawberry.enum
class OntologyFormat(Enum):
    NATIVE = "NATIVE"
    LABELBOX = "LABELBOX"
    DATALOOP = "DATALOOP"


@strawberry.enum
class TaskStatus(Enum):
    TO_LABEL = "TO_LABEL"
    IN_REVIEW = "IN_REVIEW"
    IN_REWORK = "IN_REWORK"
    DONE = "DONE"
    SKIPPED = "SKIPPED"


@strawberry.enum
class LabelStatus(Enum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@strawberry.enum
class IssueStatus(Enum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
