"""`cpwatch history` against moto: a timeline of verdict changes, read back from DynamoDB."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from cpwatch.store import Store
from tests.aws.moto_server import create_table


def document(**verdicts: str) -> dict:
    components = {"apiserver": "healthy", "etcd": "healthy", "controller-manager": "healthy", "scheduler": "healthy",
                  **{k.replace("_", "-"): v for k, v in verdicts.items()}}
    overall = "down" if "down" in components.values() else "healthy"
    return {"overall": overall, "summary": f"prod-a: {overall}", "components": {k: {"verdict": v} for k, v in components.items()}}


def history(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpwatch.cli", "history", *args], capture_output=True, text=True,
                          env=os.environ, timeout=60)


def test_timeline_shows_only_changes(aws_env):
    store = Store(aws_env.client("dynamodb"), create_table(aws_env))
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    sequence = ["healthy"] * 5 + ["down"] * 4 + ["healthy"] * 5
    for minute, verdict in enumerate(sequence):
        store.put_run("prod-a", document(scheduler=verdict), f"r{minute}", f"e{minute}", start + timedelta(minutes=minute))
    result = history("--cluster", "prod-a", "--since", "1h", "--table", store.table)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("  20")]
    assert len(lines) == 4  # first run, down, recovered, latest
    assert "scheduler healthy -> down" in lines[1] and "scheduler down -> healthy" in lines[2]
    assert "(14 runs)" in result.stdout


def test_empty_range_and_unknown_table(aws_env):
    table = create_table(aws_env)
    empty = history("--cluster", "nobody", "--table", table)
    assert empty.returncode == 0 and "no runs of nobody" in empty.stdout
    missing = history("--cluster", "prod-a", "--table", "no-such-table")
    assert missing.returncode == 3 and "ResourceNotFoundException" in missing.stderr
    assert "Traceback" not in missing.stderr
