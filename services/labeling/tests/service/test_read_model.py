"""The label read model: what the live runners keep equals a rebuild from the log."""

from __future__ import annotations

from typing import Any

from preflog_contracts.events.labels import Target
from preflog_contracts.events.projects import Question
from preflog_contracts.rpc import labeling as api
from preflog_eventstore import ProjectionRunner
from preflog_labeling.adapters.projections import LabelProjection


async def _table(service: Any, org_id: str) -> dict[str, tuple[Any, ...]]:
    rows = await service.rt.pool.fetch(
        "select label_id, version, view::text from labeling.labels where org_id = $1", org_id
    )
    return {r[0]: tuple(r[1:]) for r in rows}


async def test_live_runners_keep_what_a_rebuild_gives(service: Any) -> None:
    """The service's runner folds from the states it wrote itself; a second runner (another
    instance) takes some batches in between, and a rebuild replays everything: one table."""
    org = service.org()
    people = [org.user(), org.user()]
    project, _ = await service.project(
        org,
        members={p.user_id: "ANNOTATOR" for p in people},
        rows=4,
        ontology=api.OntologyInput(
            questions=[Question(id="q", title="Q", kind="SCALE", scope="RESPONSE", min=1, max=5, step=1)]
        ),
    )
    other = ProjectionRunner(service.rt.store, LabelProjection(service.rt.store))
    for round_ in range(4):
        for who in people:
            task = await service.call(who, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView)
            for step in range(3):
                await service.call(
                    who, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id=f"p0r{step % 3}")
                )
                await service.call(
                    who,
                    "answer_question",
                    api.AnswerQuestionRequest(
                        task_id=task.id, question_id="q", answer=step + 1, target=Target(response_id="p0r0")
                    ),
                )
                if step == 1 and round_ % 2 == 0:
                    await other.run_once()
            await service.call(who, "release_task", api.TaskRef(task_id=task.id))
    await service.settle()
    live = await _table(service, org.org_id)
    # (a released draft is its author's again: each annotator kept one label all along)
    assert len(live) == 2 and all(version > 20 for version, *_ in live.values())
    await ProjectionRunner(service.rt.store, LabelProjection(service.rt.store)).rebuild()
    assert await _table(service, org.org_id) == live
