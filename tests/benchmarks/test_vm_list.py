"""The VM list benchmark runs end to end at a tiny scale: database, VM seed, query counts, ASGI
server, the raw-SQL reference checked against the API, load generator, report and JSON."""

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


@pytest.fixture
def database_url() -> str:
    parsed = urlparse(SMOKE_DATABASE_URL)
    if not _answers(parsed.hostname or "127.0.0.1", parsed.port or 5432):
        missing(f"the benchmark needs PostgreSQL at {parsed.hostname}:{parsed.port or 5432}")
    return SMOKE_DATABASE_URL.rsplit("/", 1)[0] + "/cloudstamp_bench_vms_smoke"


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_the_vm_list_benchmark_runs_end_to_end_at_a_tiny_scale(database_url, tmp_path):
    output = tmp_path / "vm_list.json"
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    tiny = [
        "--tenants",
        "10",
        "--vms",
        "600",
        "--bench-vms",
        "120",
        "--seconds",
        "1",
        "--warmup",
        "0.2",
        "--rounds",
        "1",
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.vm_list",
            "--database-url",
            database_url,
            *tiny,
            "--output",
            str(output),
        ],
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
    assert report["meta"]["seed"]["bench_vms"] == 120
    assert report["meta"]["seed"]["live_vms"] == 600
    assert report["meta"]["equivalence"]["rows"] == 50
    assert report["meta"]["equivalence"]["count"] == 120
    for name in ("raw-sql", "api-list", "vm-page"):
        result = report["results"][name]
        assert not result.get("missing"), f"{name} answered {result.get('status')}"
        assert result["ok"] == result["requests"] > 0, f"{name}: {result['statuses']} {result['errors']}"
        assert result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    # Constant whatever the page size (the benchmark's verdict also holds them to at most 3).
    for name in ("api-list", "vm-page"):
        queries = report["queries"][name]
        assert set(queries["statuses"].values()) == {200}
        assert queries["constant"], f"{name}: {queries['counts']}"
    assert all(v.startswith(("PASS", "FAIL")) for v in report["verdicts"])
