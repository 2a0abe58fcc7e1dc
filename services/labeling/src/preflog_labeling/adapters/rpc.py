"""The labeling service's RPC operations (snake_case; see preflog_contracts.rpc.labeling)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from preflog_contracts.rpc import labeling as api
from preflog_labeling.handlers import actions, history, projects, queue, reads
from preflog_labeling.handlers.state import Deps
from preflog_messaging import CallContext, RpcServer

OPERATIONS: dict[str, tuple[type[Any], Callable[..., Awaitable[Any]]]] = {
    "create_project": (api.CreateProjectRequest, projects.create_project),
    "get_project": (api.ProjectRef, projects.get_project),
    "list_projects": (api.ListProjectsRequest, projects.list_projects),
    "update_ontology": (api.UpdateOntologyRequest, projects.update_ontology),
    "update_project_settings": (api.UpdateProjectSettingsRequest, projects.update_project_settings),
    "add_project_member": (api.AddProjectMemberRequest, projects.add_project_member),
    "remove_project_member": (api.RemoveProjectMemberRequest, projects.remove_project_member),
    "archive_project": (api.ProjectRef, projects.archive_project),
    "unarchive_project": (api.ProjectRef, projects.unarchive_project),
    "add_data_rows_to_project": (api.AddDataRowsRequest, projects.add_data_rows_to_project),
    "claim_next_task": (api.ProjectRef, queue.claim_next_task),
    "release_task": (api.TaskRef, queue.release_task),
    "requeue_task": (api.TaskRef, queue.requeue_task),
    "skip_task": (api.SkipTaskRequest, queue.skip_task),
    "rank_responses": (api.RankResponsesRequest, actions.rank_responses),
    "crown_response": (api.CrownResponseRequest, actions.crown_response),
    "edit_response": (api.EditResponseRequest, actions.edit_response),
    "add_response": (api.AddResponseRequest, actions.add_response),
    "delete_response": (api.DeleteResponseRequest, actions.delete_response),
    "answer_question": (api.AnswerQuestionRequest, actions.answer_question),
    "add_comment": (api.AddCommentRequest, actions.add_comment),
    "undo": (api.TaskRef, actions.undo),
    "redo": (api.TaskRef, actions.redo),
    "submit_label": (api.TaskRef, actions.submit_label),
    "get_task": (api.TaskRef, reads.get_task),
    "get_tasks": (api.IdsRequest, reads.get_tasks),
    "list_tasks": (api.ListTasksRequest, reads.list_tasks),
    "get_label": (api.LabelRef, reads.get_label),
    "get_labels": (api.IdsRequest, reads.get_labels),
    "get_data_rows": (api.IdsRequest, reads.get_data_rows),
    "task_as_of": (api.TaskAsOfRequest, history.task_as_of),
    "task_history": (api.TaskRef, history.task_history),
}


def register(server: RpcServer, deps: Deps) -> None:
    """Register every operation on ``server``, each handler bound to ``deps``."""
    for name, (request_type, handler) in OPERATIONS.items():

        def bound(h: Callable[..., Awaitable[Any]]) -> Callable[[CallContext, Any], Awaitable[Any]]:
            async def call(ctx: CallContext, req: Any) -> Any:
                return await h(deps, ctx, req)

            return call

        server.register(name, request_type, bound(handler))
