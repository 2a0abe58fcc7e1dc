from __future__ import annotations

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.events.labels import (
    Crown,
    EditedResponse,
    LabelSnapshot,
    RankEntry,
    Ranking,
)
from preflog_review.domain.pair_outcomes import PairOutcome, outcomes_from_label
from preflog_review.domain.rank_direction import RankDirection

TEXT = [Part(kind="text", value="...")]


def row(*prompts: list[tuple[str, str]]) -> DataRow:
    return DataRow(
        messages=[Message(id="m1", role="user", content=TEXT)],
        prompts=[
            PromptPoint(
                id=f"p{i + 1}",
                after_message_id="m1",
                responses=[
                    Response(id=rid, title=rid, content=TEXT, model_config_name=model)
                    for rid, model in responses
                ],
            )
            for i, responses in enumerate(prompts)
        ],
    )


ROW = row([("r1", "alpha"), ("r2", "beta"), ("r3", "gamma")])


def ranked(prompt_id: str = "p1", **ranks: int) -> Ranking:
    return Ranking(prompt_id=prompt_id, ranking=[RankEntry(r, k) for r, k in ranks.items()])


def test_crown_beats_every_other_response_and_the_ranking_orders_the_rest() -> None:
    label = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id="r2")],
        # The crown decides every pair with r2 (whatever its rank); the ranking the others.
        rankings=[ranked(r1=1, r2=2, r3=3)],
    )
    assert outcomes_from_label(label, ROW) == [
        PairOutcome("beta", "alpha"),
        PairOutcome("beta", "gamma"),
        PairOutcome("alpha", "gamma"),
    ]
    crown_only = LabelSnapshot(crowns=[Crown(prompt_id="p1", response_id="r2")])
    assert outcomes_from_label(crown_only, ROW) == [
        PairOutcome("beta", "alpha"),
        PairOutcome("beta", "gamma"),
    ]


def test_ranking_without_crown_gives_every_pair() -> None:
    label = LabelSnapshot(rankings=[ranked(r1=2, r2=1, r3=3)])
    assert outcomes_from_label(label, ROW) == [
        PairOutcome("beta", "alpha"),
        PairOutcome("alpha", "gamma"),
        PairOutcome("beta", "gamma"),
    ]


def test_scale_ranks_higher_is_better_and_equal_is_tie() -> None:
    label = LabelSnapshot(rankings=[ranked(r1=3, r2=0, r3=3)])
    assert outcomes_from_label(label, ROW, RankDirection.HIGHER_IS_BETTER) == [
        PairOutcome("alpha", "beta"),
        PairOutcome("alpha", "gamma", tie=True),
        PairOutcome("gamma", "beta"),
    ]


def test_tie_is_in_name_order() -> None:
    label = LabelSnapshot(rankings=[ranked(r3=1, r1=1)])
    assert outcomes_from_label(label, ROW) == [PairOutcome("alpha", "gamma", tie=True)]


def test_deleted_and_added_responses() -> None:
    label = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id="r9")],
        responses=[
            EditedResponse(response_id="r3", content=TEXT, deleted=True),
            EditedResponse(
                response_id="r9",
                prompt_id="p1",
                content=TEXT,
                model_config_name="delta",
                added=True,
            ),
            # An annotator's own response without a model takes no part.
            EditedResponse(response_id="r10", prompt_id="p1", content=TEXT, added=True),
        ],
    )
    assert outcomes_from_label(label, ROW) == [
        PairOutcome("delta", "alpha"),
        PairOutcome("delta", "beta"),
    ]


def test_crown_on_deleted_response_falls_back_to_ranking() -> None:
    label = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id="r3")],
        rankings=[ranked(r1=2, r2=1, r3=3)],
        responses=[EditedResponse(response_id="r3", content=TEXT, deleted=True)],
    )
    assert outcomes_from_label(label, ROW) == [PairOutcome("beta", "alpha")]


def test_same_model_pairs_are_skipped_and_prompts_are_independent() -> None:
    data_row = row([("r1", "alpha"), ("r2", "alpha"), ("r3", "beta")], [("r4", "beta")])
    label = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id="r1")],
        rankings=[ranked("p2", r4=1), ranked("p9", r1=1, r3=2)],  # p9 is not in the row
    )
    assert outcomes_from_label(label, data_row) == [PairOutcome("alpha", "beta")]


def test_unlabelled_prompt_gives_nothing() -> None:
    assert outcomes_from_label(LabelSnapshot(), ROW) == []
