"""The gallery page benchmark runs end to end at a tiny scale, so CI proves its command works:
seed, the query-count check at two sizes, the server, the page checks, the load generator."""

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
    "BENCH_GALLERY_SMOKE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cloudstamp_bench_gallery_smoke"
)


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_the_gallery_benchmark_runs_end_to_end_at_a_tiny_scale(tmp_path):
    parsed = urlparse(SMOKE_DATABASE_URL)
    if not _answers(parsed.hostname or "127.0.0.1", parsed.port or 5432):
        missing(f"the benchmark needs PostgreSQL at {parsed.hostname}:{parsed.port or 5432}")
    output = tmp_path / "gallery_page.json"
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    tiny = ["--tenants", "10", "--items", "60", "--seconds", "1", "--warmup", "0.2", "--rounds", "1"]
    command = [sys.executable, "-m", "benchmarks.gallery_page", "--database-url", SMOKE_DATABASE_URL]
    done = subprocess.run(
        [*command, *tiny, "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Ratios to the framework floor" in done.stdout
    report = json.loads(output.read_text())
    assert report["meta"]["queries"]["few"]["queries"] == report["meta"]["queries"]["all"]
    for name in ("floor", "gallery", "gallery-search"):
        result = report["results"][name]
        assert result["requests"] > 0 and result["ok"] == result["requests"], result
    assert report["ratios"]["gallery"]["throughput_vs_floor"] > 0
