"""A dataset's row count is kept by the global keys table, whatever statement writes it."""

from __future__ import annotations

import uuid

import asyncpg


async def test_the_count_follows_inserts_repeats_and_deletes(fresh_database_url: str) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        org = str(uuid.uuid4())
        a, b = str(uuid.uuid4()), str(uuid.uuid4())
        for dataset, name in ((a, "a"), (b, "b")):
            await conn.execute(
                "insert into ingest.datasets (dataset_id, org_id, name, created_by)"
                " values ($1, $2, $3, 'u')",
                dataset,
                org,
                name,
            )
        insert = (
            "insert into ingest.global_keys (org_id, global_key, data_row_id, dataset_id,"
            " import_id, line) select $1::uuid, k, gen_random_uuid(), d::uuid, gen_random_uuid(),"
            " 1 from unnest($2::text[], $3::text[]) as u(k, d) on conflict do nothing"
        )

        async def counts() -> dict[str, int]:
            rows = await conn.fetch(
                "select dataset_id::text, data_row_count from ingest.datasets where org_id = $1",
                org,
            )
            return {r[0]: r[1] for r in rows}

        await conn.execute(insert, org, ["k1", "k2", "k3"], [a, a, b])  # two datasets at once
        assert await counts() == {a: 2, b: 1}
        await conn.execute(insert, org, ["k1", "k4"], [a, a])  # k1 is held: one row added
        assert await counts() == {a: 3, b: 1}
        await conn.execute("delete from ingest.global_keys where global_key in ('k2', 'k3')")
        assert await counts() == {a: 2, b: 0}
        actual = await conn.fetchval(
            "select count(*) from ingest.global_keys where dataset_id = $1::uuid", a
        )
        assert actual == 2
    finally:
        await conn.close()
