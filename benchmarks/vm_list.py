"""The VM list at scale: the tenant page ``compute:vms`` and ``GET /api/v1/vms/`` for a tenant
with 5,000 VMs among 50,000, beside a raw-SQL-plus-orjson view of the same page, in one run.

``python -m benchmarks.vm_list`` (``--help`` for options). Steps:

1. Drop and create ``cloudstamp_bench_vms`` (PostgreSQL), migrate, seed the foundation's
   tenants, users and subscriptions (``benchmarks.seed.seed``), then write the VMs directly
   (``benchmarks.seed.seed_vms``: ``bulk_create``, no jobs): ``--bench-vms`` live VMs for the
   bench tenant, ``--vms`` in all, in deployments of 10, in a realistic mix of states, and 5 %
   deleted ones on top that the lists must skip.
2. Query counts, in this process (Django's test client, the benchmark's settings): each list
   is requested at a small and a large page size after an unmeasured request; the count must
   be the same at both (constant) and at most ``MAX_QUERIES``.
3. uvicorn (one worker, ``benchmarks.settings``), with the reference view
   ``/bench/raw/<tenant>/vms/`` (``benchmarks.reference_views.raw_vms``); the API and the raw
   view are checked to list the same VMs in the same order with the same fields first.
4. ``benchmarks.loadgen`` at concurrency 8 against the raw view, the API (bearer token) and
   the page (session), ``--rounds`` times in turn; p50/p95/p99 and requests/s; ratios to the
   raw view. Target (issue 5): each within 2x of it (ratio >= 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.foundation import (
    Target,
    answering,
    asgi_server,
    check_equivalence,
    measure_rounds,
    print_targets,
    probe,
    ratio,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "cloudstamp_bench_vms"
PAGE_SIZE = 50
API_PATH = "/api/v1/vms/"
PAGE_PATH = "/compute/vms/"
TARGET_RATIO = 0.5
MAX_QUERIES = 3
# Page sizes the query count is compared at: the API's ?page_size= (1..500) and the page's
# ?per_page= (one of compute.views.VM_PAGE_SIZES). Both pages must be full: a short first
# page tells its own total and skips the COUNT (portal/api/pagination.py), one query fewer.
API_SIZES = (10, 500)
PAGE_SIZES = (25, 100)
AUTH_TABLES = ("django_session", "tenants_user", "tenants_membership", "tenants_apitoken")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vm_list", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=None, help=f"default: BENCH_DATABASE_URL's server, {DEFAULT_DATABASE}"
    )
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--vms", type=int, default=50_000, help="live VMs in the database, all tenants")
    parser.add_argument("--bench-vms", type=int, default=5_000, help="live VMs of the measured tenant")
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE, help="rows per measured page")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per target")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reuse-db", action="store_true", help="keep an already seeded database")
    parser.add_argument("--output", default=str(ROOT / "var/bench/vm_list.json"))
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    return parser.parse_args(argv)


# --- query counts ------------------------------------------------------------------------


def count_queries(
    path: str, param: str, sizes: tuple[int, int], *, token: str = "", session: str = ""
) -> dict:
    """Queries of one request at each page size, each after an unmeasured one (a token's
    ``last_used_at`` and cold caches are not the list's cost)."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(**({"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}))
    if session:
        client.cookies[settings.SESSION_COOKIE_NAME] = session
    counts, statuses, samples = {}, {}, {}
    for size in sizes:
        url = f"{path}?{param}={size}"
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        counts[size] = len(captured.captured_queries)
        statuses[size] = response.status_code
        samples[size] = [q["sql"][:300] for q in captured.captured_queries]
    values = list(counts.values())
    last = samples[sizes[-1]]
    return {
        "counts": counts,
        # Who the caller is (session, user, membership; or the token) versus the list itself.
        "auth_queries": sum(
            1 for sql in last if any(f'"{t}"' in sql.split(" WHERE ")[0] for t in AUTH_TABLES)
        ),
        "statuses": statuses,
        "constant": len(set(values)) == 1,
        "max": max(values),
        "within_limit": max(values) <= MAX_QUERIES,
        "queries": samples[sizes[-1]],
    }


# --- equivalence -------------------------------------------------------------------------


# --- report ------------------------------------------------------------------------------


def _fmt(value, spec: str = "") -> str:
    return "—" if value is None else format(value, spec)


def print_report(results: dict, ratios: dict, queries: dict, verdicts: list[str], meta: dict) -> None:
    print()
    print(
        f"Cloudstamp VM list benchmark: uvicorn (1 worker), concurrency {meta['concurrency']}, "
        f"{meta['seconds']:g} s per target in {meta['rounds']} rounds, {meta['cpus']} CPUs, "
        f"database connections: {meta['db_connections']}"
    )
    print(
        f"Seed: {meta['seed']['vms']} VMs ({meta['seed']['live_vms']} live) in {meta['seed']['tenants']} tenants; "
        f"the bench tenant has {meta['seed']['bench_vms']} live VMs; pages of {meta['page_size']} rows."
    )
    print()
    print_targets(results, name_width=10, path_width=52)
    print()
    print("Ratios (throughput):")
    print(f"  API list / raw SQL      {_fmt(ratios['api_vs_raw'], '.2f'):>6}   target >= {TARGET_RATIO}")
    print(f"  VM page / raw SQL       {_fmt(ratios['page_vs_raw'], '.2f'):>6}   target >= {TARGET_RATIO}")
    print()
    print(f"Queries per request (at most {MAX_QUERIES}, the same at every page size):")
    for name, q in queries.items():
        sizes = ", ".join(f"{n} at {size}" for size, n in q["counts"].items())
        print(f"  {name:<9} {sizes} ({q['auth_queries']} of them authenticate the caller)")
    print()
    for line in verdicts:
        print(line)


# --- the run -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    sys.path.insert(0, str(ROOT))
    from benchmarks import seed

    database_url = args.database_url or seed.database_url(DEFAULT_DATABASE)
    os.environ["DATABASE_URL"] = database_url

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    started = time.monotonic()
    seeded = False
    if not (args.reuse_db and _seeded()):
        connection.close()
        name = seed.recreate_database(database_url)
        seed.migrate()
        print(f"==> Database {name} created and migrated ({time.monotonic() - started:.1f} s)", flush=True)
        t0 = time.monotonic()
        seed.seed(tenants=args.tenants, bench_subscriptions=1)
        counts = seed.seed_vms(total=args.vms, bench_vms=args.bench_vms)
        seeded = True
        print(f"==> Seeded in {time.monotonic() - t0:.1f} s: {asdict(counts)}", flush=True)
    stored = _counts()
    creds = seed.credentials()

    settings_cookie = settings.SESSION_COOKIE_NAME
    queries = {
        "api-list": count_queries(
            API_PATH, "page_size", _full_pages(API_SIZES, stored["bench_vms"]), token=creds.api_token
        ),
        "vm-page": count_queries(PAGE_PATH, "per_page", PAGE_SIZES, session=creds.session_cookie),
    }
    connection.close()

    size = args.page_size
    targets = [
        Target(
            "raw-sql", f"/bench/raw/{creds.tenant_id}/vms/?page_size={size}", description="raw SQL + orjson"
        ),
        Target(
            "api-list",
            f"{API_PATH}?page_size={size}",
            [f"Authorization: Bearer {creds.api_token}"],
            description="GET /api/v1/vms/ (bearer token)",
        ),
        Target(
            "vm-page",
            f"{PAGE_PATH}?per_page={size}",
            [f"Cookie: {settings_cookie}={creds.session_cookie}"],
            description="the VM list page (session)",
        ),
    ]
    by_name = {t.name: t for t in targets}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "benchmarks.settings"}
    results: dict[str, dict] = {}
    equivalence = None
    with asgi_server(env, ROOT / "var/bench/server-vm-list.log") as base:
        print(f"==> Server on {base}", flush=True)
        available = {t.name: probe(base, t)[0] for t in targets}
        if available["api-list"] == 200:
            equivalence = check_equivalence(
                base,
                by_name["api-list"],
                by_name["raw-sql"],
                what="VMs",
                timestamps=("created", "launched_at"),
            )
            print(
                f"==> The raw view returns what the API returns: {equivalence['rows']} of "
                f"{equivalence['count']} VMs, same order and fields",
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
            )
        )
        results = {t.name: results[t.name] for t in targets}

    rps = {name: r.get("rps") for name, r in results.items()}
    ratios = {
        "api_vs_raw": ratio(rps["api-list"], rps["raw-sql"]),
        "page_vs_raw": ratio(rps["vm-page"], rps["raw-sql"]),
    }
    verdicts = []
    for name, key, what in (
        ("api-list", "api_vs_raw", "API list"),
        ("vm-page", "page_vs_raw", "VM list page"),
    ):
        value = ratios[key]
        verdict = "MISSING" if value is None else ("PASS" if value >= TARGET_RATIO else "FAIL")
        verdicts.append(f"{verdict}: {what} throughput within 2x of the raw-SQL view ({_fmt(value, '.2f')})")
        q = queries[name]
        if q["statuses"] and any(status != 200 for status in q["statuses"].values()):
            verdicts.append(f"MISSING: {what} queries not counted (answered {q['statuses']})")
            continue
        verdict = "PASS" if q["constant"] and q["within_limit"] else "FAIL"
        verdicts.append(
            f"{verdict}: {what} runs {'a constant' if q['constant'] else 'a varying'} number of queries "
            f"({', '.join(str(n) for n in q['counts'].values())}; at most {MAX_QUERIES})"
        )
    meta = {
        "when": seed.now_iso(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "server": "uvicorn, 1 worker process, DEBUG=false",
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "page_size": size,
        "db_connections": settings.BENCH_DB_CONNECTIONS,
        "database": database_url.rsplit("/", 1)[-1],
        "seed": stored,
        "seeded_this_run": seeded,
        "equivalence": equivalence,
        "total_s": round(time.monotonic() - started, 1),
    }
    print_report(results, ratios, queries, verdicts, meta)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "meta": meta,
                "results": results,
                "ratios": ratios,
                "queries": queries,
                "target": {"ratio": TARGET_RATIO, "max_queries": MAX_QUERIES},
                "verdicts": verdicts,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"Results written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if args.strict and any(not v.startswith("PASS") for v in verdicts) else 0


def _seeded() -> bool:
    from django.db.utils import DatabaseError

    from compute.models import VirtualMachine

    try:
        return VirtualMachine.objects.exists()
    except DatabaseError:
        return False


def _full_pages(sizes: tuple[int, ...], rows: int) -> tuple[int, ...]:
    """``sizes`` capped at ``rows`` so that every compared page is full (a tiny smoke seed)."""
    return tuple(dict.fromkeys(min(size, max(rows - 1, 1)) for size in sizes))


def _counts() -> dict[str, int]:
    from django.db.models import Count, Q

    from benchmarks.seed import BENCH_SLUG
    from compute.models import VirtualMachine
    from tenants.models import Tenant

    live = ~Q(provisioning_state="deleted")
    totals = VirtualMachine.objects.aggregate(
        vms=Count("id"),
        live_vms=Count("id", filter=live),
        bench_vms=Count("id", filter=live & Q(tenant__slug=BENCH_SLUG)),
    )
    return {"tenants": Tenant.objects.count(), **totals}


if __name__ == "__main__":
    sys.exit(main())
