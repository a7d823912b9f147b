"""The benchmark harness runs end to end at a tiny scale, so CI proves ``make bench`` works:
database, seed, ASGI server, reference views, load generator, report and JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.backends import _answers, missing

ROOT = Path(__file__).resolve().parents[2]
SMOKE_DATABASE_URL = os.environ.get(
    "BENCH_SMOKE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cloudstamp_bench_smoke"
)
TARGETS = ["floor", "raw-sql", "api-list", "dashboard"]


@pytest.fixture
def postgres_url() -> str:
    parsed = urlparse(SMOKE_DATABASE_URL)
    if not _answers(parsed.hostname or "127.0.0.1", parsed.port or 5432):
        missing(f"the benchmark needs PostgreSQL at {parsed.hostname}:{parsed.port or 5432}")
    return SMOKE_DATABASE_URL


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_the_benchmark_runs_end_to_end_at_a_tiny_scale(postgres_url, tmp_path):
    output = tmp_path / "foundation.json"
    # The test run's own settings (SQLite, DEBUG, testing switches) must not leak in.
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    tiny = [
        "--tenants",
        "20",
        "--bench-subscriptions",
        "12",
        "--seconds",
        "1",
        "--warmup",
        "0.2",
        "--rounds",
        "1",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--database-url", postgres_url, *tiny, "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "API list / raw SQL" in done.stdout
    report = json.loads(output.read_text())
    assert report["meta"]["seed"] == {"tenants": 20, "users": 60, "subscriptions": 31}
    assert report["meta"]["equivalence"]["rows"] == 12
    for name in TARGETS:
        result = report["results"][name]
        assert not result.get("missing"), f"{name} answered {result.get('status')}"
        assert result["requests"] > 0
        assert result["ok"] == result["requests"], f"{name}: {result['statuses']} {result['errors']}"
        assert result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert report["ratios"]["api_vs_raw"] > 0
    assert report["verdict"] in {"PASS", "FAIL"}


def test_the_benchmark_refuses_to_drop_a_database_not_named_for_it():
    from benchmarks.seed import recreate_database

    with pytest.raises(SystemExit, match="must contain 'bench'"):
        recreate_database("postgres://postgres@127.0.0.1:5432/cloudstamp")
