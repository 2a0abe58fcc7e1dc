"""Finding U+0000 in decoded JSON, with the path a client can act on."""

from __future__ import annotations

from typing import Any

from preflog_contracts.errors import Invalid
from preflog_contracts.text import has_nul, nul_path, shown


def test_paths_name_the_first_string_or_key_holding_a_nul() -> None:
    row: dict[str, Any] = {
        "global_key": "k",
        "messages": [{"content": "fine"}, {"content": "a\u0000b", "id": "m\u0000"}],
    }
    assert nul_path(row) == "messages[1].content"
    assert nul_path(row, "rows[3]") == "rows[3].messages[1].content"
    assert nul_path({"meta": {"a\u0000": 1}}) == 'meta["a\\u0000"]'
    assert nul_path({"odd key": ["\u0000"]}) == '["odd key"][0]'
    assert nul_path("\u0000", "name") == "name"


def test_clean_values_and_escaped_text_have_none() -> None:
    for value in ("\\u0000", {"a": [1, 2.5, None, True, "x"]}, [], 7, None):
        assert not has_nul(value)
        assert nul_path(value) is None


def test_any_depth() -> None:
    deep: Any = "\u0000"
    for _ in range(50_000):
        deep = [deep]
    assert has_nul(deep)
    assert nul_path(deep) == "[0]" * 50_000


def test_a_long_value_is_shown_cut_with_its_length() -> None:
    assert shown("text/csv") == "'text/csv'"
    long = shown("x" * 100_000)
    assert len(long) < 100 and "100,002 characters" in long
    assert shown(5) == "5"


def test_an_error_never_carries_a_huge_message_or_field() -> None:
    err = Invalid("bad " + "y" * 50_000, {"k" * 5_000: "v" * 50_000})
    assert len(err.message) <= 1_000 and "characters" in err.message
    ((key, value),) = err.fields.items()
    assert len(key) <= 300 and len(value) <= 1_000
