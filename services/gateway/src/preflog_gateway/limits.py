"""Request limits: a per-token rate limit and the GraphQL complexity budget."""

from __future__ import annotations

import time
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from preflog_contracts.errors import Invalid, RateLimited


def check_page_size(first: int, maximum: int) -> None:
    """A connection's ``first``: at most the page size cap (API.md: 500)."""
    if first < 0 or first > maximum:
        raise Invalid("page size out of range", {"first": f"must be between 0 and {maximum}"})


class RateLimiter:
    """A token bucket per key (API token id): ``per_minute`` requests, bursts up to
    ``burst``. In-process: each gateway instance limits on its own."""

    def __init__(self, per_minute: int, *, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(per_minute // 6, 1))
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, now: float | None = None, cost: int = 1) -> bool:
        """True if a request of ``cost`` requests' worth may go ahead (and counts it); one
        dearer than a full bucket waits for a full one."""
        now = time.monotonic() if now is None else now
        price = min(float(cost), self.burst)
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < price:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - price, now)
        return True

    def take(self, key: str, cost: int = 1) -> None:
        """Count a request of ``cost`` requests' worth; RATE_LIMITED when it may not go ahead."""
        if not self.allow(key, cost=cost):
            raise RateLimited("too many requests for this token; slow down")


FIELD_COSTS: dict[str, int] = {"leaderboard": 100, "agreement": 100, "taskAsOf": 10, "history": 5}
"""Fields whose answer is computed, not looked up (a leaderboard over every comparison of a
project, a fold of a task's log), by what they cost against one plain field. Without them a
query could ask for a thousand aliases of one leaderboard within the budget."""


def complexity_rule(budget: int, default_page: int = 100) -> type[ValidationRule]:
    """A validation rule refusing operations whose estimated cost exceeds ``budget``.

    Each field costs 1 (those in ``FIELD_COSTS`` more); a field with a ``first`` argument
    multiplies its children's cost by that page size (or ``default_page`` when it is a
    variable or omitted). Plain lists are bounded by the data (a conversation's messages),
    not by the client, so count once.
    """

    class ComplexityRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments: dict[str, FragmentDefinitionNode] = {}

        def enter_document(self, node: Any, *_: Any) -> None:
            self.fragments = {
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            }

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            cost = self._cost(node.selection_set, set())
            if cost > budget:
                self.report_error(
                    GraphQLError(f"query too complex: estimated cost {cost} exceeds {budget}", node)
                )

        def _cost(self, selection_set: SelectionSetNode | None, seen: set[str]) -> int:
            if selection_set is None:
                return 0
            total = 0
            for sel in selection_set.selections:
                if isinstance(sel, FieldNode):
                    factor = 1
                    for arg in sel.arguments or ():
                        if arg.name.value == "first":
                            factor = (
                                int(arg.value.value)
                                if isinstance(arg.value, IntValueNode)
                                else default_page
                            )
                    if sel.selection_set is not None and factor == 1 and _is_connection(sel):
                        factor = default_page
                    own = FIELD_COSTS.get(sel.name.value, 1)
                    total += own + max(factor, 1) * self._cost(sel.selection_set, seen)
                elif isinstance(sel, InlineFragmentNode):
                    total += self._cost(sel.selection_set, seen)
                elif isinstance(sel, FragmentSpreadNode):
                    name = sel.name.value
                    if name in seen or name not in self.fragments:
                        continue
                    total += self._cost(self.fragments[name].selection_set, seen | {name})
            return total

    return ComplexityRule


def _is_connection(node: FieldNode) -> bool:
    selections = node.selection_set.selections if node.selection_set else ()
    return any(isinstance(s, FieldNode) and s.name.value == "edges" for s in selections)
