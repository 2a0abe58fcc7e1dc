"""The gateway counts and times every HTTP request on ``/metrics``, by endpoint and status,
with no id of a path in a label."""

from __future__ import annotations

import uuid

from preflog_gateway.http_metrics import route_of

from .conftest import Server


def _samples(text: str, name: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{")
    }


def test_paths_map_to_endpoints_without_their_ids() -> None:
    some = str(uuid.uuid4())
    assert route_of("/graphql") == "graphql"
    assert route_of(f"/v1/datasets/{some}/imports") == "v1.imports.create"
    assert route_of(f"/v1/imports/{some}") == "v1.imports.get"
    assert route_of(f"/v1/projects/{some}/export") == "v1.projects.export"
    assert route_of("/graphiql-assets/graphiql.min.js") == "graphiql.assets"
    assert route_of(f"/nothing/{some}") == "other"


async def test_requests_are_counted_and_timed_by_endpoint_and_status(system: Server) -> None:
    server = system
    before = (await server.http.get("/metrics")).text
    await server.gql("{ __typename }")
    r = await server.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"authorization": "Bearer nope"}
    )
    assert r.status_code == 401
    missing = str(uuid.uuid4())
    auth = {"authorization": f"Bearer {server.admin_token}"}
    assert (await server.http.get(f"/v1/imports/{missing}", headers=auth)).status_code == 404
    assert (await server.http.get(f"/no/such/{missing}")).status_code == 404
    after = (await server.http.get("/metrics")).text

    def grew(name: str, labels: str) -> float:
        key = f"{name}{{{labels}}}"
        return _samples(after, name).get(key, 0.0) - _samples(before, name).get(key, 0.0)

    total = "preflog_http_requests_total"
    assert grew(total, 'route="graphql",status="200"') == 1
    assert grew(total, 'route="graphql",status="401"') == 1
    assert grew(total, 'route="v1.imports.get",status="404"') == 1
    assert grew(total, 'route="other",status="404"') == 1
    assert grew("preflog_http_latency_seconds_count", 'route="graphql"') == 2
    assert missing not in after
