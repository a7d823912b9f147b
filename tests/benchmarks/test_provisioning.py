"""The provisioning benchmark runs end to end at a tiny scale, so CI proves it works: database,
world, real Celery workers, the no-op peer, deployments through the API to running VMs, the
latency phase, the in-process profile, report and JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.backends import _answers, missing

ROOT = Path(__file__).resolve().parents[2]
SMOKE_DATABASE_URL = os.environ.get(
    "BENCH_SMOKE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cloudstamp_bench_smoke"
)
# Not the benchmark's own Redis database (14), so a smoke run never empties a real run's queues.
SMOKE_REDIS_URL = os.environ.get("BENCH_SMOKE_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def backends() -> tuple[str, str]:
    database = urlparse(SMOKE_DATABASE_URL)
    if not _answers(database.hostname or "127.0.0.1", database.port or 5432):
        missing(f"the benchmark needs PostgreSQL at {database.hostname}:{database.port or 5432}")
    redis = urlparse(SMOKE_REDIS_URL)
    if not _answers(redis.hostname or "127.0.0.1", redis.port or 6379):
        missing(f"the benchmark needs Redis at {SMOKE_REDIS_URL}")
    return SMOKE_DATABASE_URL.rsplit("/", 1)[0] + "/cloudstamp_bench_provisioning_smoke", SMOKE_REDIS_URL


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(400)
def test_the_provisioning_benchmark_runs_end_to_end_at_a_tiny_scale(backends, tmp_path):
    database_url, redis_url = backends
    output = tmp_path / "provisioning.json"
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    env["BENCH_REDIS_URL"] = redis_url
    tiny = {
        "--vms": 20,
        "--per-deployment": 5,
        "--noop-tasks": 50,
        "--tenants": 2,
        "--hosts": 2,
        "--worker-threads": 2,
        "--submitters": 2,
        "--latency-rate": 10,
        "--latency-seconds": 1,
        "--latency-warmup": 0,
        "--latency-worker-threads": 4,
        "--latency-per-request": "5,2",
        "--profile-vms": 10,
        "--timeout": 120,
    }
    args = [str(x) for pair in tiny.items() for x in pair]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.provisioning",
            "--database-url",
            database_url,
            *args,
            "--output",
            str(output),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=380,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "of the no-op task rate" in done.stdout
    report = json.loads(output.read_text())
    assert [row["workers"] for row in report["throughput"]] == [1, 2]
    for row in report["throughput"]:
        assert row["noop"]["rate"] > 0
        assert row["vms"]["states"] == {"active": 20}, row["vms"]
        assert row["vms"]["failed_jobs"] == 0
        assert row["ratio"] > 0
    assert [run["per_request"] for run in report["latency"]] == [5, 2]
    for run in report["latency"]:
        assert run["states"] == {"active": 10}
        # With a 200 ms spawn no VM can be running sooner than that after its request.
        assert 200 <= run["p50_ms"] <= run["p99_ms"]
        assert run["cpu_cores"]["workers"] > 0 and run["cpu_cores"]["web"] > 0
    profile = report["profile"]
    assert profile["outcomes"] == {"succeeded": 10}
    assert profile["per_job"]["queries"] > 0
    assert profile["per_job"]["events"]["job"] > 0
    assert report["verdicts"]
    assert all(v.startswith(("PASS", "FAIL")) for v in report["verdicts"])


def test_the_query_kinds_name_the_verb_and_the_table():
    from benchmarks.provisioning import _query_kind

    assert _query_kind('UPDATE "portal_job" SET "state" = %s WHERE "id" = %s') == "UPDATE portal_job"
    assert _query_kind('INSERT INTO "portal_job" ("id") SELECT * FROM UNNEST(%s)') == "INSERT portal_job"
    assert (
        _query_kind('SELECT "a"."id" FROM "portal_job" WHERE x FOR UPDATE') == "SELECT FOR UPDATE portal_job"
    )
    assert _query_kind("COMMIT") == "COMMIT"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_the_cpu_sampler_counts_the_cores_each_part_kept_busy():
    from benchmarks.provisioning import cpu_sampled

    cores: dict = {}
    with cpu_sampled(cores):
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:  # one core, busy
            pass
    assert 0.5 <= cores["benchmark"] <= 1.2
    assert set(cores) <= {"benchmark", "web", "workers", "postgres", "redis"}
