"""The foundation benchmark: the dashboard and ``GET /api/v1/subscriptions/`` over a real ASGI
server, beside a framework floor and a raw-SQL lower bound measured in the same run.

Steps: drop and create the benchmark database, migrate, seed (``benchmarks.seed``), start
uvicorn (one worker process, production-like settings from ``benchmarks.settings``), check that
the raw-SQL view returns the same subscriptions as the API, then run the load generator
(``benchmarks.loadgen``, its own process) against each target in turn and print a table and
the ratios. Results also go to ``var/bench/foundation.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cloudstamp_bench"
API_PATH = "/api/v1/subscriptions/"
DASHBOARD_PATH = "/dashboard/"
# The target: the API list within 2x of the raw-SQL view's throughput.
API_TARGET_RATIO = 0.5


@dataclass
class Target:
    name: str
    path: str
    headers: list[str] = field(default_factory=list)
    description: str = ""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--users-per-tenant", type=int, default=3)
    parser.add_argument("--bench-subscriptions", type=int, default=50, help="rows in the measured list")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per target")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target")
    parser.add_argument("--requests", type=int, default=None, help="a fixed count per target instead")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="measure the targets in turn this many times and merge (other load on the machine "
        "then hits every target alike)",
    )
    parser.add_argument("--reuse-db", action="store_true", help="keep an already seeded database")
    parser.add_argument("--output", default=str(ROOT / "var/bench/foundation.json"))
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target ratio is missed")
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


urllib.request.install_opener(urllib.request.build_opener(_NoRedirect))


@contextlib.contextmanager
def asgi_server(env: dict[str, str], log_path: Path, processes: int = 1) -> Iterator[str]:
    """uvicorn with ``processes`` worker processes (one unless a benchmark needs the web tier
    to scale out) on a free loopback port; yields its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "portal.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        # Django has no lifespan handler; "off" keeps uvicorn from probing for one.
        "--lifespan",
        "off",
        "--workers",
        str(processes),
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise SystemExit(
                        f"The server exited ({process.returncode}):\n{log_path.read_text()[-3000:]}"
                    )
                try:
                    if http_get(base + "/bench/floor/", timeout=2)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"The server did not answer in 60 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _as_headers(items: list[str]) -> dict[str, str]:
    return dict(item.split(": ", 1) for item in items)


def probe(base: str, target: Target) -> tuple[int, bytes]:
    return http_get(base + target.path, _as_headers(target.headers))


def _comparable(row: dict, timestamps: tuple[str, ...]) -> dict:
    """A listed row with its timestamps parsed (DRF and orjson spell UTC differently)."""
    from datetime import datetime

    out = dict(row)
    for key in timestamps:
        if out.get(key):
            out[key] = datetime.fromisoformat(out[key].replace("Z", "+00:00"))
    return out


def check_equivalence(
    base: str,
    api: Target,
    raw: Target,
    *,
    what: str = "subscriptions",
    timestamps: tuple[str, ...] = ("created", "state_changed"),
) -> dict:
    """The raw-SQL view must return what the API returns (same rows, order and fields), or
    comparing their speed means nothing. Returns what was compared; exits with the first
    difference otherwise."""
    api_status, api_body = probe(base, api)
    raw_status, raw_body = probe(base, raw)
    if api_status != 200 or raw_status != 200:
        raise SystemExit(f"Equivalence check: the API answered {api_status}, the raw view {raw_status}.")
    api_data, raw_data = json.loads(api_body), json.loads(raw_body)
    api_ids = [row["id"] for row in api_data["results"]]
    raw_ids = [row["id"] for row in raw_data["results"]]
    if api_ids != raw_ids or api_data.get("count") != raw_data.get("count"):
        raise SystemExit(
            f"The raw-SQL view and the API list different {what}: API count {api_data.get('count')} "
            f"with {len(api_ids)} rows, raw count {raw_data.get('count')} with {len(raw_ids)} rows"
            f"{' (same rows, another order)' if sorted(api_ids) == sorted(raw_ids) else ''}."
        )
    for api_row, raw_row in zip(api_data["results"], raw_data["results"], strict=True):
        if _comparable(api_row, timestamps) != _comparable(raw_row, timestamps):
            raise SystemExit(
                f"The raw-SQL view and the API differ on a row:\n  API {api_row}\n  raw {raw_row}"
            )
    return {
        "rows": len(api_ids),
        "count": api_data.get("count"),
        "api_bytes": len(api_body),
        "raw_bytes": len(raw_body),
    }


def print_targets(results: dict, *, name_width: int, path_width: int) -> None:
    """The results table every benchmark prints: one row per target, a missing one marked."""
    print(
        f"{'target':<{name_width}} {'path':<{path_width}} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'errors':>7}"
    )
    for name, r in results.items():
        path = r["path"][:path_width]
        if r.get("missing"):
            print(f"{name:<{name_width}} {path:<{path_width}} {'missing (' + str(r['status']) + ')':>9}")
            continue
        bad = r["requests"] - r["ok"] + sum(r["errors"].values())
        print(
            f"{name:<{name_width}} {path:<{path_width}} {r['rps']:>9.1f} {r['p50_ms']:>8.2f} "
            f"{r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f} {bad:>7}"
        )


def run_loadgen(
    base: str, target: Target, *, seconds: float, warmup: float, requests: int | None, concurrency: int
) -> dict:
    """One load generator run against one target, in its own process."""
    command = [sys.executable, "-m", "benchmarks.loadgen", base + target.path, "--raw-latencies"]
    for header in target.headers:
        command += ["-H", header]
    command += ["-c", str(concurrency), "--warmup", str(warmup), "--seconds", str(seconds)]
    if requests:
        command += ["-n", str(requests)]
    budget = warmup + (seconds if not requests else 600) + 90
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=budget, check=False)
    if done.returncode != 0:
        raise SystemExit(f"The load generator failed on {target.name}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def merge_runs(runs: list[dict]) -> dict:
    """Several rounds against one target as one result: throughput over the summed measured
    time, percentiles over every latency."""
    from benchmarks.loadgen import percentile

    latencies = sorted(x for run in runs for x in run.pop("latencies_ms"))
    requests = sum(run["requests"] for run in runs)
    elapsed = sum(run["elapsed_s"] for run in runs)
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for run in runs:
        for key, n in run["statuses"].items():
            statuses[key] = statuses.get(key, 0) + n
        for key, n in run["errors"].items():
            errors[key] = errors.get(key, 0) + n
    return {
        "url": runs[0]["url"],
        "rounds": len(runs),
        "requests": requests,
        "ok": sum(run["ok"] for run in runs),
        "statuses": statuses,
        "errors": errors,
        "elapsed_s": round(elapsed, 3),
        "rps": round(requests / elapsed, 1) if elapsed else 0.0,
        "rps_per_round": [run["rps"] for run in runs],
        "mean_ms": round(sum(latencies) / len(latencies), 3) if latencies else None,
        "p50_ms": percentile(latencies, 50) if latencies else None,
        "p95_ms": percentile(latencies, 95) if latencies else None,
        "p99_ms": percentile(latencies, 99) if latencies else None,
        "max_ms": latencies[-1] if latencies else None,
        "bytes_per_response": runs[0]["bytes_per_response"],
    }


def answering(targets: list[Target], available: dict[str, int], results: dict) -> list[Target]:
    """The targets that answered 200; each other one is reported and recorded as missing."""
    measured = []
    for target in targets:
        if available[target.name] == 200:
            measured.append(target)
            continue
        print(f"==> {target.name}: {target.path} answers {available[target.name]}, skipped", flush=True)
        results[target.name] = {"path": target.path, "missing": True, "status": available[target.name]}
    return measured


def measure_rounds(
    base: str,
    targets: list[Target],
    *,
    seconds: float,
    rounds: int,
    warmup: float,
    concurrency: int,
    requests: int | None = None,
) -> dict[str, dict]:
    """Every target for ``seconds / rounds`` in turn, ``rounds`` times, so that a noisy
    neighbour on a shared machine slows them all alike; each target's runs merged."""
    runs: dict[str, list[dict]] = {t.name: [] for t in targets}
    rounds = max(1, rounds)
    for n in range(rounds):
        for target in targets:
            print(f"==> round {n + 1}/{rounds} {target.name}: {target.description}", flush=True)
            runs[target.name].append(
                run_loadgen(
                    base,
                    target,
                    seconds=seconds / rounds,
                    # A full warm-up the first time; later rounds only refill the connections.
                    warmup=warmup if n == 0 else min(warmup, 0.5),
                    requests=-(-requests // rounds) if requests else None,
                    concurrency=concurrency,
                )
            )
    return {t.name: {"path": t.path, **merge_runs(runs[t.name])} for t in targets}


def ratio(a: float | None, b: float | None) -> float | None:
    if not a or not b:
        return None
    return round(a / b, 3)


def _fmt(value, spec: str = "") -> str:
    return "—" if value is None else format(value, spec)


def print_report(results: dict[str, dict], ratios: dict, verdict: str, meta: dict) -> None:
    print()
    print(
        f"Cloudstamp foundation benchmark: uvicorn (1 worker), concurrency {meta['concurrency']}, "
        f"{meta['seconds']:g} s per target in {meta['rounds']} rounds, {meta['cpus']} CPUs, "
        f"database connections: {meta['db_connections']}"
    )
    print(
        f"Seed: {meta['seed']['tenants']} tenants, {meta['seed']['users']} users, "
        f"{meta['seed']['subscriptions']} subscriptions; the bench tenant lists "
        f"{meta['rows']} subscriptions."
    )
    print()
    print_targets(results, name_width=12, path_width=44)
    print()
    print("Ratios (throughput):")
    print(f"  API list / raw SQL      {_fmt(ratios['api_vs_raw'], '.2f'):>6}   target >= {API_TARGET_RATIO}")
    print(f"  raw SQL / floor         {_fmt(ratios['raw_vs_floor'], '.2f'):>6}")
    print(f"  API list / floor        {_fmt(ratios['api_vs_floor'], '.2f'):>6}")
    print(f"  dashboard / floor       {_fmt(ratios['dashboard_vs_floor'], '.2f'):>6}")
    print()
    print(f"{verdict}: API list throughput within 2x of the raw-SQL view")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["DATABASE_URL"] = args.database_url
    sys.path.insert(0, str(ROOT))

    import django

    from benchmarks import seed

    django.setup()
    from django.db import connection

    started = time.monotonic()
    seeded = False
    if not (args.reuse_db and _seeded()):
        connection.close()
        name = seed.recreate_database(args.database_url)
        print(f"==> Database {name} created", flush=True)
        seed.migrate()
        print(f"==> Migrated ({time.monotonic() - started:.1f} s)", flush=True)
        t0 = time.monotonic()
        seeded_counts = seed.seed(
            tenants=args.tenants,
            users_per_tenant=args.users_per_tenant,
            bench_subscriptions=args.bench_subscriptions,
        )
        seeded = True
        print(f"==> Seeded in {time.monotonic() - t0:.1f} s: {asdict(seeded_counts)}", flush=True)
    counts = _counts()
    creds = seed.credentials()
    connection.close()

    session = f"Cookie: sessionid={creds.session_cookie}"
    api_auth = f"Authorization: Bearer {creds.api_token}"
    targets = [
        Target("floor", "/bench/floor/", description="constant JSON (framework floor)"),
        Target(
            "raw-sql",
            f"/bench/raw/{creds.tenant_id}/subscriptions/",
            description="same page in raw SQL + orjson (lower bound)",
        ),
        Target("api-list", API_PATH, [api_auth], description="GET /api/v1/subscriptions/ (bearer token)"),
        Target("dashboard", DASHBOARD_PATH, [session], description="tenant dashboard (session)"),
    ]
    by_name = {t.name: t for t in targets}

    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "benchmarks.settings"}
    results: dict[str, dict] = {}
    equivalence = None
    with asgi_server(env, ROOT / "var/bench/server.log") as base:
        print(f"==> Server on {base}", flush=True)
        available = {}
        for target in targets:
            status, _ = probe(base, target)
            available[target.name] = status
        if available["api-list"] == 200:
            equivalence = check_equivalence(base, by_name["api-list"], by_name["raw-sql"])
            print(
                f"==> The raw-SQL view returns what the API returns: {equivalence['rows']} subscriptions, "
                f"same order, plans and quota figures",
                flush=True,
            )
        results.update(
            measure_rounds(
                base,
                answering(targets, available, results),
                seconds=args.seconds,
                rounds=args.rounds,
                warmup=args.warmup,
                concurrency=args.concurrency,
                requests=args.requests,
            )
        )
        results = {t.name: results[t.name] for t in targets}

    rps = {name: r.get("rps") for name, r in results.items()}
    ratios = {
        "api_vs_raw": ratio(rps["api-list"], rps["raw-sql"]),
        "raw_vs_floor": ratio(rps["raw-sql"], rps["floor"]),
        "api_vs_floor": ratio(rps["api-list"], rps["floor"]),
        "dashboard_vs_floor": ratio(rps["dashboard"], rps["floor"]),
    }
    if ratios["api_vs_raw"] is None:
        verdict = "MISSING"
    else:
        verdict = "PASS" if ratios["api_vs_raw"] >= API_TARGET_RATIO else "FAIL"
    meta = {
        "when": seed.now_iso(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "server": "uvicorn, 1 worker process, DEBUG=false",
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "requests": args.requests,
        "rounds": args.rounds,
        "db_connections": _db_connections(),
        "seed": counts,
        "seeded_this_run": seeded,
        "rows": equivalence["rows"] if equivalence else args.bench_subscriptions,
        "equivalence": equivalence,
        "total_s": None,
    }
    meta["total_s"] = round(time.monotonic() - started, 1)
    print_report(results, ratios, verdict, meta)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"meta": meta, "targets": {t.name: asdict(t) | {"headers": None} for t in targets}}
            | {"results": results, "ratios": ratios, "target": {"api_vs_raw": API_TARGET_RATIO}}
            | {"verdict": verdict},
            indent=2,
        )
        + "\n"
    )
    print(f"Results written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if args.strict and verdict != "PASS" else 0


def _db_connections() -> str:
    from django.conf import settings

    return settings.BENCH_DB_CONNECTIONS


def _seeded() -> bool:
    from django.db.utils import DatabaseError

    from benchmarks.seed import BENCH_SLUG
    from tenants.models import Tenant

    try:
        return Tenant.objects.filter(slug=BENCH_SLUG).exists()
    except DatabaseError:
        return False


def _counts() -> dict[str, int]:
    from subscriptions.models import Subscription
    from tenants.models import Tenant, User

    return {
        "tenants": Tenant.objects.count(),
        "users": User.objects.count(),
        "subscriptions": Subscription.objects.count(),
    }
