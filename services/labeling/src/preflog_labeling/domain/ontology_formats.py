"""Ontologies in Labelbox's and Dataloop's forms, converted to native questions.

Labelbox: question id = classification ``name`` (what MAL pre-labels name), options keep
their ``value``, nested ``options[].options`` are follow-ups; scope ``global`` -> GLOBAL,
``index`` (per message) -> MESSAGE, ``response`` -> RESPONSE. Dataloop: question id =
attribute ``key``; range -> SCALE, options with ``multi`` -> CHECKLIST, without -> RADIO,
boolean -> YES_NO, free text -> TEXT; ``scope`` ["response"] -> RESPONSE.
"""

from __future__ import annotations

from typing import Any

from preflog_contracts.errors import Invalid
from preflog_contracts.events.projects import Option, Question

_LABELBOX_KINDS = {"radio": "RADIO", "checklist": "CHECKLIST", "text": "TEXT"}
_LABELBOX_SCOPES = {
    "global": "GLOBAL",
    "index": "MESSAGE",
    "message": "MESSAGE",
    "response": "RESPONSE",
}


def from_labelbox(source: Any) -> list[Question]:
    """Questions of a Labelbox ontology JSON (``{"classifications": [...]}``); Invalid on
    anything it cannot map, naming the path."""
    if not isinstance(source, dict) or not isinstance(source.get("classifications"), list):
        raise Invalid(
            "a Labelbox ontology has a classifications list",
            {"ontology.source": "expected {classifications: [...]}"},
        )
    return [
        _labelbox_question(c, f"ontology.source.classifications[{i}]", None)
        for i, c in enumerate(source["classifications"])
    ]


def _labelbox_question(c: Any, path: str, inherited_scope: str | None) -> Question:
    if not isinstance(c, dict):
        raise Invalid("a classification is an object", {path: "expected an object"})
    name = c.get("name") or c.get("instructions")
    if not isinstance(name, str) or not name:
        raise Invalid("a classification needs a name", {f"{path}.name": "required"})
    kind = _LABELBOX_KINDS.get(str(c.get("type", "")).lower())
    if kind is None:
        raise Invalid(
            "unsupported classification type",
            {f"{path}.type": f"expected one of {', '.join(_LABELBOX_KINDS)}"},
        )
    scope = inherited_scope or _labelbox_scope(c, path)
    options = []
    for j, o in enumerate(c.get("options") or []):
        opath = f"{path}.options[{j}]"
        if not isinstance(o, dict) or not isinstance(o.get("value"), str):
            raise Invalid("an option needs a value", {f"{opath}.value": "required"})
        follow_ups = [
            _labelbox_question(n, f"{opath}.options[{k}]", scope) for k, n in enumerate(o.get("options") or [])
        ]
        options.append(Option(value=o["value"], label=str(o.get("label") or ""), follow_ups=follow_ups))
    return Question(
        id=name,
        title=str(c.get("instructions") or name),
        kind=kind,
        scope=scope,
        required=bool(c.get("required", False)),
        options=options,
    )


def _labelbox_scope(c: dict[str, Any], path: str) -> str:
    raw = c.get("scope")
    if raw is None:
        # Message-level flags of conversational ontologies.
        if c.get("messageLevel") or c.get("message_level"):
            return "MESSAGE"
        if c.get("responseLevel") or c.get("response_level"):
            return "RESPONSE"
        return "GLOBAL"
    scope = _LABELBOX_SCOPES.get(str(raw).lower())
    if scope is None:
        raise Invalid(
            "unknown classification scope",
            {f"{path}.scope": f"expected one of {', '.join(_LABELBOX_SCOPES)}"},
        )
    return scope


def from_dataloop(source: Any) -> list[Question]:
    """Questions of Dataloop feedback attributes (``{"attributes": [...]}`` or a bare list)."""
    attributes = source.get("attributes") if isinstance(source, dict) else source
    if not isinstance(attributes, list):
        raise Invalid(
            "Dataloop feedback questions are an attributes list",
            {"ontology.source": "expected {attributes: [...]}"},
        )
    return [_dataloop_question(a, f"ontology.source.attributes[{i}]") for i, a in enumerate(attributes)]


def _dataloop_question(a: Any, path: str) -> Question:
    if not isinstance(a, dict) or not isinstance(a.get("key"), str) or not a["key"]:
        raise Invalid("an attribute needs a key", {f"{path}.key": "required"})
    kind_raw = str(a.get("type", "")).lower()
    scope = _dataloop_scope(a.get("scope"), path)
    common: dict[str, Any] = {
        "id": a["key"],
        "title": str(a.get("title") or a["key"]),
        "scope": scope,
        "required": not bool(a.get("optional", True)),
    }
    if kind_raw == "range":
        r = a.get("range") or {}
        try:
            lo, hi = float(r["min"]), float(r["max"])
            step = float(r.get("step", 1))
        except (KeyError, TypeError, ValueError):
            raise Invalid("a range needs numeric min and max", {f"{path}.range": "expected {min, max, step}"}) from None
        return Question(kind="SCALE", min=lo, max=hi, step=step, **common)
    if kind_raw == "options":
        values = a.get("values")
        if not isinstance(values, list) or not values:
            raise Invalid("options need values", {f"{path}.values": "expected a non-empty list"})
        options = [Option(value=str(v)) for v in values]
        kind = "CHECKLIST" if a.get("multi") else "RADIO"
        return Question(kind=kind, options=options, **common)
    if kind_raw in ("boolean", "yesno", "yes_no"):
        return Question(kind="YES_NO", **common)
    if kind_raw in ("freetext", "free_text", "text"):
        return Question(kind="TEXT", **common)
    raise Invalid(
        "unsupported attribute type",
        {f"{path}.type": "expected range, options, boolean or freeText"},
    )


def _dataloop_scope(raw: Any, path: str) -> str:
    if raw is None:
        return "GLOBAL"
    items = raw if isinstance(raw, list) else [raw]
    names = {str(s).lower() for s in items}
    if "response" in names:
        return "RESPONSE"
    if "message" in names or "prompt" in names:
        return "MESSAGE"
    if not names or names <= {"global", "item"}:
        return "GLOBAL"
    raise Invalid("unknown attribute scope", {f"{path}.scope": "expected response, message or global"})
