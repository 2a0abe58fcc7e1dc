"""The export service's pure domain: the export item and every training format.

Formats turn one :class:`ExportItem` plus :class:`ExportOptions` into a list of records
(msgspec Structs; encode each with ``msgspec.json`` as one NDJSON line). No I/O here.
"""

from __future__ import annotations

from preflog_export.domain.content import content_text, part_text
from preflog_export.domain.conversation import ChatMessage, prompts_by_id
from preflog_export.domain.formats.audit import AuditRecord, audit_record
from preflog_export.domain.formats.dpo import DpoRecord, dpo_records
from preflog_export.domain.formats.hh import HhRecord, hh_records, hh_transcript
from preflog_export.domain.formats.labelbox import LabelboxRecord, labelbox_records
from preflog_export.domain.formats.native import NativeRecord, native_records
from preflog_export.domain.formats.openai_preference import (
    OpenAIPreferenceRecord,
    openai_preference_records,
)
from preflog_export.domain.formats.reward_ranking import (
    RewardRankingRecord,
    reward_ranking_records,
)
from preflog_export.domain.item import ExportItem, ExportLabel, Person, Review
from preflog_export.domain.judgement import (
    Candidate,
    PromptJudgement,
    Scored,
    exported_labels,
    judge_item,
)
from preflog_export.domain.options import ExportOptions, PairStrategy, export_options
from preflog_export.domain.pairs import Pair, pairs_of
from preflog_export.domain.registry import FORMAT_NAMES, ITEM_FORMATS, check_format, item_format

__all__ = [
    "FORMAT_NAMES",
    "ITEM_FORMATS",
    "AuditRecord",
    "Candidate",
    "ChatMessage",
    "DpoRecord",
    "ExportItem",
    "ExportLabel",
    "ExportOptions",
    "HhRecord",
    "LabelboxRecord",
    "NativeRecord",
    "OpenAIPreferenceRecord",
    "Pair",
    "PairStrategy",
    "Person",
    "PromptJudgement",
    "Review",
    "RewardRankingRecord",
    "Scored",
    "audit_record",
    "check_format",
    "content_text",
    "dpo_records",
    "export_options",
    "exported_labels",
    "hh_records",
    "hh_transcript",
    "item_format",
    "judge_item",
    "labelbox_records",
    "native_records",
    "openai_preference_records",
    "pairs_of",
    "part_text",
    "prompts_by_id",
    "reward_ranking_records",
]
