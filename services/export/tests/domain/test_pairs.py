"""Which pairs come out, by hand-built scenario."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from preflog_contracts.datarow import Message, Part
from preflog_contracts.events.labels import EditedResponse
from preflog_export.domain import (
    ExportItem,
    ExportOptions,
    dpo_records,
    hh_records,
    native_records,
    openai_preference_records,
    reward_ranking_records,
)


def pairs(
    item: ExportItem, strategy: str = "best_vs_rest", **options: Any
) -> list[tuple[str, str, float]]:
    records = dpo_records(item, ExportOptions(pair_strategy=strategy, **options))  # type: ignore[arg-type]
    return [(r.chosen_response_id, r.rejected_response_id, r.margin) for r in records]


def test_single_crown_pairs_the_crown_with_every_other_response(build: SimpleNamespace) -> None:
    item = build.item([build.label("l1", crowns={"p1": "B"})])
    expected = [("B", "A", 1.0), ("B", "C", 1.0)]
    assert pairs(item) == expected
    # Crown only: nothing orders A against C, so every strategy gives the same pairs.
    assert pairs(item, "all_pairs") == expected
    assert pairs(item, "best_vs_worst") == expected
    record = dpo_records(item, ExportOptions())[0]
    assert record.id == "task:p1:B:A"
    assert record.label_ids == ["l1"]
    assert record.source == "crown"
    assert (record.chosen_model, record.rejected_model) == ("beta", "alpha")
    assert [(m.role, m.content) for m in record.prompt] == [("user", "question?")]
    assert [(m.role, m.content) for m in record.chosen] == [("assistant", "answer b")]
    assert [(m.role, m.content) for m in record.rejected] == [("assistant", "answer a")]


def test_crown_wins_over_a_ranking_of_the_same_label(build: SimpleNamespace) -> None:
    item = build.item(
        [build.label("l1", crowns={"p1": "C"}, rankings={"p1": {"A": 1, "B": 2, "C": 3}})]
    )
    assert pairs(item) == [("C", "A", 1.0), ("C", "B", 1.0)]


def test_ranking_only(build: SimpleNamespace) -> None:
    item = build.item([build.label("l1", rankings={"p1": {"A": 2, "B": 1, "C": 3}})])
    assert pairs(item) == [("B", "A", 0.5), ("B", "C", 1.0)]
    assert pairs(item, "all_pairs") == [("B", "A", 0.5), ("B", "C", 1.0), ("A", "C", 0.5)]
    assert pairs(item, "best_vs_worst") == [("B", "C", 1.0)]
    assert {r.source for r in dpo_records(item, ExportOptions())} == {"ranking"}


def test_ranking_ties_form_tiers_that_are_never_paired(build: SimpleNamespace) -> None:
    item = build.item(
        [build.label("l1", rankings={"p1": {"A": 0, "B": 3, "C": 3}})], rank_mode="SCALE_0_3"
    )
    # SCALE_0_3: 3 is best. B and C tie on top: (1 worse + half of 1 tied) / 2 = 0.75.
    assert pairs(item, "all_pairs") == [("B", "A", 0.75), ("C", "A", 0.75)]
    assert pairs(item, "best_vs_worst") == [("B", "A", 0.75), ("C", "A", 0.75)]


def test_consensus_crown_by_majority_with_vote_share_margins(build: SimpleNamespace) -> None:
    item = build.item(
        [
            build.label("l1", crowns={"p1": "A"}),
            build.label("l2", crowns={"p1": "B"}),
            build.label("l3", crowns={"p1": "A"}),
        ]
    )
    assert pairs(item) == [("A", "B", 0.333333), ("A", "C", 0.666667)]
    assert pairs(item, "all_pairs") == [
        ("A", "B", 0.333333),
        ("A", "C", 0.666667),
        ("B", "C", 0.333333),
    ]
    assert pairs(item, "best_vs_worst") == [("A", "C", 0.666667)]
    assert dpo_records(item, ExportOptions())[0].label_ids == ["l1", "l2", "l3"]


def test_consensus_crown_tie_falls_back_to_mean_borda(build: SimpleNamespace) -> None:
    item = build.item(
        [
            build.label("l1", crowns={"p1": "A"}, rankings={"p1": {"A": 1, "B": 2, "C": 3}}),
            build.label("l2", crowns={"p1": "B"}, rankings={"p1": {"B": 1, "A": 2, "C": 3}}),
            build.label("l3", crowns={"p1": "C"}, rankings={"p1": {"A": 1, "C": 2, "B": 3}}),
        ]
    )
    # Borda: A (1 + .5 + 1) / 3, B (.5 + 1 + 0) / 3, C (0 + 0 + .5) / 3.
    assert pairs(item) == [("A", "B", 0.333333), ("A", "C", 0.666667)]
    assert pairs(item, "all_pairs")[-1] == ("B", "C", 0.333333)
    assert {r.source for r in dpo_records(item, ExportOptions())} == {"ranking"}


def test_consensus_crown_tie_without_ranking_gives_no_pairs(build: SimpleNamespace) -> None:
    item = build.item(
        [build.label("l1", crowns={"p1": "A"}), build.label("l2", crowns={"p1": "B"})]
    )
    assert pairs(item) == []


def test_consensus_ranking_counts_only_labels_that_ranked(build: SimpleNamespace) -> None:
    item = build.item(
        [
            build.label("l1", rankings={"p1": {"A": 1, "B": 2, "C": 3}}),
            build.label("l2"),
            build.label("l3", rankings={"p1": {"A": 1, "B": 3, "C": 2}}),
        ]
    )
    assert pairs(item, "all_pairs") == [("A", "B", 0.75), ("A", "C", 0.75)]
    assert dpo_records(item, ExportOptions())[0].label_ids == ["l1", "l3"]


def test_edited_response_exports_edited(build: SimpleNamespace) -> None:
    edit = EditedResponse(response_id="B", content=build.text("better b"))
    item = build.item([build.label("l1", crowns={"p1": "B"}, responses=[edit])])
    chosen = [r.chosen[0].content for r in dpo_records(item, ExportOptions())]
    assert chosen == ["better b", "better b"]


def test_consensus_edit_of_the_reference_label_wins_else_the_latest(
    build: SimpleNamespace,
) -> None:
    def edit(value: str) -> list[EditedResponse]:
        return [EditedResponse(response_id="A", content=build.text(value))]

    latest = build.item(
        [
            build.label("l1", crowns={"p1": "A"}, responses=edit("late"), minute=9),
            build.label("l2", crowns={"p1": "A"}, responses=edit("early"), minute=1),
        ]
    )
    assert dpo_records(latest, ExportOptions())[0].chosen[0].content == "late"
    reference = build.item(
        [
            build.label("l1", crowns={"p1": "A"}, responses=edit("late"), minute=9),
            build.label("l2", crowns={"p1": "A"}, responses=edit("ref"), reference=True),
        ]
    )
    assert dpo_records(reference, ExportOptions())[0].chosen[0].content == "ref"


def test_deleted_response_is_excluded(build: SimpleNamespace) -> None:
    deleted = EditedResponse(response_id="C", content=[], deleted=True)
    item = build.item([build.label("l1", crowns={"p1": "A"}, responses=[deleted])])
    assert pairs(item) == [("A", "B", 1.0)]


def test_consensus_deletion_needs_more_than_half_of_the_labels(build: SimpleNamespace) -> None:
    deleted = [EditedResponse(response_id="C", content=[], deleted=True)]
    one = build.item(
        [
            build.label("l1", crowns={"p1": "A"}, responses=deleted),
            build.label("l2", crowns={"p1": "A"}),
            build.label("l3", crowns={"p1": "A"}),
        ]
    )
    assert [p[1] for p in pairs(one)] == ["B", "C"]
    two = build.item(
        [
            build.label("l1", crowns={"p1": "A"}, responses=deleted),
            build.label("l2", crowns={"p1": "A"}, responses=deleted),
            build.label("l3", crowns={"p1": "A"}),
        ]
    )
    assert [p[1] for p in pairs(two)] == ["B"]


def test_added_response_is_included(build: SimpleNamespace) -> None:
    added = EditedResponse(
        response_id="N",
        prompt_id="p1",
        content=build.text("new answer"),
        model_config_name="human",
        added=True,
    )
    item = build.item(
        [build.label("l1", rankings={"p1": {"N": 1, "A": 2, "B": 3, "C": 4}}, responses=[added])]
    )
    records = dpo_records(item, ExportOptions())
    assert [(r.chosen_response_id, r.rejected_response_id) for r in records] == [
        ("N", "A"),
        ("N", "B"),
        ("N", "C"),
    ]
    assert records[0].chosen[0].content == "new answer"
    assert records[0].chosen_model == "human"
    ranked = reward_ranking_records(item, ExportOptions())[0].responses
    assert [(r.response_id, r.rank) for r in ranked] == [("N", 1), ("A", 2), ("B", 3), ("C", 4)]


def test_multi_prompt_row_gives_pairs_per_prompt_with_its_own_prompt(
    build: SimpleNamespace,
) -> None:
    messages = [
        Message(id="m1", role="system", content=build.text("be brief")),
        Message(id="m2", role="user", content=build.text("first?")),
        Message(id="m3", role="assistant", content=build.text("first answer")),
        Message(id="m4", role="user", content=build.text("second?")),
    ]
    prompts = [
        build.point("p1", "m2", ("A", "a1", "alpha"), ("B", "b1", "beta")),
        build.point("p2", "m4", ("D", "a2", "alpha"), ("E", "b2", "beta")),
    ]
    item = build.item(
        [build.label("l1", crowns={"p1": "A"}, rankings={"p2": {"D": 2, "E": 1}})],
        prompts=prompts,
        messages=messages,
    )
    records = dpo_records(item, ExportOptions())
    assert [(r.prompt_id, r.chosen_response_id, r.rejected_response_id) for r in records] == [
        ("p1", "A", "B"),
        ("p2", "E", "D"),
    ]
    assert [m.content for m in records[0].prompt] == ["be brief", "first?"]
    assert [m.content for m in records[1].prompt] == [
        "be brief",
        "first?",
        "first answer",
        "second?",
    ]
    hh = hh_records(item, ExportOptions())
    assert hh[1].chosen == (
        "\n\nHuman: be brief\n\nfirst?\n\nAssistant: first answer"
        "\n\nHuman: second?\n\nAssistant: b2"
    )
    assert hh[1].rejected.endswith("\n\nAssistant: a2")
    assert hh[1].id == records[1].id
    openai = openai_preference_records(item, ExportOptions())
    assert [m.content for m in openai[1].input.messages] == [m.content for m in records[1].prompt]
    assert openai[1].preferred_output[0].content == "b2"
    assert [r.prompt_id for r in reward_ranking_records(item, ExportOptions())] == ["p1", "p2"]


def test_no_crown_and_no_ranking_gives_no_pairs(build: SimpleNamespace) -> None:
    item = build.item([build.label("l1")])
    options = ExportOptions()
    assert dpo_records(item, options) == []
    assert hh_records(item, options) == []
    assert openai_preference_records(item, options) == []
    assert reward_ranking_records(item, options) == []


def test_a_single_ranked_response_gives_no_pairs(build: SimpleNamespace) -> None:
    item = build.item([build.label("l1", rankings={"p1": {"A": 1}})])
    assert pairs(item) == []


def test_status_filter_decides_which_labels_count(build: SimpleNamespace) -> None:
    item = build.item(
        [
            build.label("l1", crowns={"p1": "A"}),
            build.label("l2", crowns={"p1": "B"}, status="SUBMITTED"),
            build.label("l3", crowns={"p1": "B"}, status="REJECTED"),
        ]
    )
    assert pairs(item)[0][0] == "A"
    assert pairs(item, label_statuses=frozenset({"SUBMITTED"}))[0][0] == "B"
    # All three: B has two crowns of three.
    everything = frozenset({"SUBMITTED", "APPROVED", "REJECTED"})
    assert pairs(item, label_statuses=everything)[0] == ("B", "A", 0.333333)
    assert pairs(build.item([build.label("l1", crowns={"p1": "A"}, status="SUBMITTED")])) == []


def test_model_filter_keeps_only_those_models(build: SimpleNamespace) -> None:
    item = build.item([build.label("l1", rankings={"p1": {"A": 1, "B": 2, "C": 3}})])
    assert pairs(item, models=frozenset({"beta", "gamma"})) == [("B", "C", 1.0)]
    assert pairs(item, models=frozenset({"alpha"})) == []


def test_crown_on_an_excluded_response_is_ignored(build: SimpleNamespace) -> None:
    deleted = EditedResponse(response_id="A", content=[], deleted=True)
    item = build.item(
        [
            build.label(
                "l1", crowns={"p1": "A"}, rankings={"p1": {"B": 1, "C": 2}}, responses=[deleted]
            )
        ]
    )
    assert pairs(item) == [("B", "C", 1.0)]


def test_prompt_without_after_message_takes_the_whole_conversation(
    build: SimpleNamespace,
) -> None:
    messages = [
        Message(id="m1", role="user", content=build.text("q")),
        Message(id="m2", role="assistant", content=build.text("a")),
        Message(id="m3", role="user", content=[Part(kind="html", value="<p>more &amp; more</p>")]),
    ]
    item = build.item(
        [build.label("l1", crowns={"p1": "A"})],
        prompts=[build.three_responses(after=None)],
        messages=messages,
    )
    prompt = dpo_records(item, ExportOptions())[0].prompt
    assert [(m.role, m.content) for m in prompt] == [
        ("user", "q"),
        ("assistant", "a"),
        ("user", "more & more"),
    ]


@pytest.mark.parametrize("strategy", ["best_vs_rest", "all_pairs", "best_vs_worst"])
def test_pair_formats_agree_on_pairs_and_order(build: SimpleNamespace, strategy: str) -> None:
    item = build.item(
        [
            build.label("l1", rankings={"p1": {"A": 1, "B": 2, "C": 3}}),
            build.label("l2", rankings={"p1": {"B": 1, "A": 2, "C": 3}}),
        ]
    )
    options = ExportOptions(pair_strategy=strategy)  # type: ignore[arg-type]
    dpo = dpo_records(item, options)
    hh = hh_records(item, options)
    openai = openai_preference_records(item, options)
    assert [r.id for r in dpo] == [r.id for r in hh]
    assert [r.chosen[0].content for r in dpo] == [r.preferred_output[0].content for r in openai]
    assert [r.rejected[0].content for r in dpo] == [
        r.non_preferred_output[0].content for r in openai
    ]


def test_native_keeps_the_original_and_marks_the_edit(build: SimpleNamespace) -> None:
    edit = EditedResponse(response_id="B", content=build.text("better b"))
    added = EditedResponse(response_id="N", prompt_id="p1", content=build.text("n"), added=True)
    item = build.item([build.label("l1", crowns={"p1": "B"}, responses=[edit, added])])
    record = native_records(item, ExportOptions())[0]
    original = record.data_row.prompts[0].responses[1]
    assert (original.id, original.content) == ("B", build.text("answer b"))
    assert record.labels[0].responses == [edit, added]
    flags = {r.response_id: (r.edited, r.added, r.rank) for r in record.aggregate[0].responses}
    assert flags == {
        "B": (True, False, 1),
        "A": (False, False, 2),
        "C": (False, False, 2),
        "N": (False, True, 2),
    }
    assert native_records(build.item([build.label("l1", status="REJECTED")]), ExportOptions()) == []
