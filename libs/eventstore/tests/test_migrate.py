"""Migrations: applied once, in order, in a transaction unless they say otherwise."""

from __future__ import annotations

import asyncpg
import pytest

from preflog_eventstore.migrate import Migration, apply_migrations


async def _applied(conn: asyncpg.Connection, component: str) -> list[int]:
    rows = await conn.fetch(
        "select version from public.schema_migrations where component = $1 order by version",
        component,
    )
    return [r[0] for r in rows]


async def test_a_migration_without_a_transaction_runs_its_statements_one_by_one(
    fresh_database_url: str,
) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute("create table public.scratch (id int, note text)")
        concurrently = Migration(
            "scratch",
            1,
            "index_concurrently",
            "-- preflog: no transaction\n"
            "drop index concurrently if exists public.scratch_id;\n"
            "create index concurrently scratch_id\n  on public.scratch (id);\n",
        )
        assert concurrently.statements() == [
            "-- preflog: no transaction\ndrop index concurrently if exists public.scratch_id;",
            "create index concurrently scratch_id\n  on public.scratch (id);",
        ]
        # Sent as one, Postgres runs them in one implicit transaction and refuses.
        with pytest.raises(asyncpg.ActiveSQLTransactionError):
            await conn.execute(concurrently.sql)
        assert await apply_migrations(conn, [concurrently]) == ["scratch/0001_index_concurrently"]
        valid = await conn.fetchval(
            "select indisvalid from pg_index where indexrelid = 'public.scratch_id'::regclass"
        )
        assert valid is True
        assert await _applied(conn, "scratch") == [1]
        assert await apply_migrations(conn, [concurrently]) == []  # once
    finally:
        await conn.close()


async def test_a_failed_migration_is_not_recorded_and_runs_again_from_the_start(
    fresh_database_url: str,
) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute("create table public.scratch (id int)")
        sql = (
            "-- preflog: no transaction\n"
            "drop index concurrently if exists public.scratch_id;\n"
            "create index concurrently scratch_id on public.scratch (id);\n"
            "select 1 / (select count(*) from public.scratch);\n"
        )
        failing = Migration("scratch", 1, "index", sql)
        with pytest.raises(asyncpg.DivisionByZeroError):
            await apply_migrations(conn, [failing])
        assert await _applied(conn, "scratch") == []
        await conn.execute("insert into public.scratch values (1)")
        assert await apply_migrations(conn, [failing]) == ["scratch/0001_index"]
        assert await _applied(conn, "scratch") == [1]
        # In a transaction (the default), a failure leaves nothing behind.
        transactional = Migration(
            "scratch", 2, "table", "create table public.other (id int);\nselect 1 / 0;\n"
        )
        with pytest.raises(asyncpg.DivisionByZeroError):
            await apply_migrations(conn, [transactional])
        assert await conn.fetchval("select to_regclass('public.other')") is None
        assert await _applied(conn, "scratch") == [1]
    finally:
        await conn.close()
