"""Accounts and authentication through HTTP, as a client sees them."""

from __future__ import annotations

import asyncio
import uuid

from preflog_gateway.bootstrap import on_start

from .conftest import Server

VIEWER = "{ viewer { id email name orgRole isOperator } }"
CREATE_USER = """mutation($email: String!, $role: OrgRole!) {
  createUser(input: {email: $email, name: "Ann", orgRole: $role}) { id email orgRole } }"""
CREATE_TOKEN = """mutation($u: ID!) { createApiToken(userId: $u, name: "ci") { id token } }"""


def code(body: dict) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def new_user(
    server: Server, role: str = "MEMBER", token: str | None = None
) -> tuple[str, str]:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    body = await server.gql(CREATE_USER, {"email": email, "role": role}, token=token)
    user_id = body["data"]["createUser"]["id"]
    tok = await server.gql(CREATE_TOKEN, {"u": user_id}, token=token)
    return user_id, tok["data"]["createApiToken"]["token"]


async def test_bootstrap_creates_operator_admin_once(server: Server) -> None:
    assert any("PREFLOG_BOOTSTRAP_TOKEN" in line for line in server.greeting)
    body = await server.gql(VIEWER)
    viewer = body["data"]["viewer"]
    assert viewer["orgRole"] == "ADMIN" and viewer["isOperator"] is True
    assert await on_start(server.runtime) == []  # not an empty database any more


async def test_missing_wrong_and_revoked_tokens_are_refused_alike(server: Server) -> None:
    r = await server.http.post("/graphql", json={"query": VIEWER})
    assert r.status_code == 401 and code(r.json()) == "UNAUTHENTICATED"
    wrong = await server.gql(VIEWER, token="pfl_" + "x" * 40, expect_status=401)
    user_id, token = await new_user(server)
    ok = await server.gql(VIEWER, token=token)
    assert ok["data"]["viewer"]["id"] == user_id
    tokens = await server.gql("{ users { id apiTokens { id revokedAt } } }")
    token_id = next(u for u in tokens["data"]["users"] if u["id"] == user_id)["apiTokens"][0]["id"]
    revoked = await server.gql("mutation($t: ID!) { revokeApiToken(tokenId: $t) }", {"t": token_id})
    assert revoked["data"]["revokeApiToken"] is True
    gone = await server.gql(VIEWER, token=token, expect_status=401)
    assert gone["errors"][0]["message"] == wrong["errors"][0]["message"]


async def test_member_may_not_administer(server: Server) -> None:
    _, token = await new_user(server, "MEMBER")
    body = await server.gql(CREATE_USER, {"email": "x@example.com", "role": "MEMBER"}, token=token)
    assert code(body) == "FORBIDDEN"
    assert code(await server.gql("{ users { id } }", token=token)) == "FORBIDDEN"
    created = await server.gql(
        'mutation { createOrganization(name: "O", adminEmail: "o@example.com", adminName: "O")'
        " { organization { id } } }",
        token=token,
    )
    assert code(created) == "FORBIDDEN"


async def test_duplicate_email_conflicts_and_idempotency_key_returns_first(server: Server) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    first = await server.gql(CREATE_USER, {"email": email, "role": "MEMBER"})
    assert (
        code(await server.gql(CREATE_USER, {"email": email.upper(), "role": "MEMBER"}))
        == "CONFLICT"
    )
    query = """mutation($email: String!, $k: String) {
      createUser(input: {email: $email, name: "B"}, idempotencyKey: $k) { id } }"""
    email2 = f"{uuid.uuid4().hex[:8]}@example.com"
    a = await server.gql(query, {"email": email2, "k": "key-1"})
    b = await server.gql(query, {"email": email2, "k": "key-1"})
    assert a["data"]["createUser"]["id"] == b["data"]["createUser"]["id"]
    assert first["data"]["createUser"]["email"] == email


async def test_account_events_carry_the_clients_user_agent(server: Server) -> None:
    """Every event carries the client's user agent (DOMAIN.md); account events had none."""
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    r = await server.http.post(
        "/graphql",
        json={"query": CREATE_USER, "variables": {"email": email, "role": "MEMBER"}},
        headers={"authorization": f"Bearer {server.admin_token}", "user-agent": "admin-console/3"},
    )
    user_id = r.json()["data"]["createUser"]["id"]
    agent = await server.runtime.pool.fetchval(
        "select metadata->>'user_agent' from eventlog.events where stream_name = $1",
        f"user-{user_id}",
    )
    assert agent == "admin-console/3"


async def test_invalid_user_input_names_fields(server: Server) -> None:
    body = await server.gql(CREATE_USER, {"email": "not-an-email", "role": "MEMBER"})
    assert code(body) == "INVALID_INPUT"
    assert "email" in body["errors"][0]["extensions"]["fields"]


async def test_other_org_sees_nothing_and_learns_nothing(server: Server) -> None:
    made = await server.gql(
        """mutation($e: String!) { createOrganization(name: "Other", adminEmail: $e, adminName: "Z")
           { organization { id name } admin { id orgRole } token { id token } } }""",
        {"e": f"{uuid.uuid4().hex[:8]}@other.example"},
    )
    other = made["data"]["createOrganization"]
    other_token = other["token"]["token"]
    mine, _ = await new_user(server)
    viewer = await server.gql(VIEWER, token=other_token)
    assert viewer["data"]["viewer"]["isOperator"] is False
    users = await server.gql("{ users { id } }", token=other_token)
    assert [u["id"] for u in users["data"]["users"]] == [other["admin"]["id"]]
    # A real id of another org answers exactly like an id that does not exist.
    real = await server.gql(CREATE_TOKEN, {"u": mine}, token=other_token)
    fake = await server.gql(CREATE_TOKEN, {"u": str(uuid.uuid4())}, token=other_token)
    assert code(real) == code(fake) == "NOT_FOUND"
    assert real["errors"][0]["message"] == fake["errors"][0]["message"]
    log = await server.gql(
        "query($a: ID!) { auditLog(filter: {actorId: $a}) { edges { node { type } } } }",
        {"a": mine},
        token=other_token,
    )
    assert log["data"]["auditLog"]["edges"] == []


async def test_last_used_time_is_recorded(server: Server) -> None:
    _, token = await new_user(server)
    await server.gql(VIEWER, token=token)
    await server.parts.gateway.authenticator.flush()
    await asyncio.sleep(0)
    body = await server.gql("query { viewer { apiTokens { lastUsedAt prefix } } }", token=token)
    tokens = body["data"]["viewer"]["apiTokens"]
    assert tokens[0]["lastUsedAt"] is not None and token.startswith(tokens[0]["prefix"])
