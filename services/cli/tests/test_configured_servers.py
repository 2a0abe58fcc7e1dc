"""``preflog`` with a configured database it cannot use says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from preflog_eventstore import with_database
from preflog_testing.infra import Infra


def test_a_configured_database_that_does_not_exist_is_one_clear_error(infra: Infra) -> None:
    missing = f"preflog_missing_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFLOG_")}
    env.update(
        PREFLOG_DATABASE_URL=with_database(infra.admin_dsn, missing),
        PREFLOG_NATS_URL=infra.nats_url,
    )
    done = subprocess.run(
        [sys.executable, "-m", "preflog_cli.main", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done
    assert f"there is no database '{missing}'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
