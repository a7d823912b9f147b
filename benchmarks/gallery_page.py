"""The tenant gallery page: ``GET /gallery/`` and a search-and-filter variant over a real ASGI
server, beside the framework floor measured in the same run.

Steps: drop and create the benchmark database, migrate, seed the foundation's tenants
(``benchmarks.seed``, a smaller default), then the gallery: ``--items`` items with
``--versions`` versions each (one deprecated, one draft, the rest published; the documents are
the web farm sample's) offered by the plan of the bench tenant's subscription, and a fifth as
many offered only by a plan the bench tenant does not have. While seeding, the page's queries
are counted in-process with 50 items offered and again with all of them: the counts must be
equal (a list page costs a constant number of queries), or the run stops. Then uvicorn
(``benchmarks.settings``) serves the portal, each page is checked to list what it should, and
the load generator (``benchmarks.loadgen``, its own process, concurrency 8 over loopback)
measures the floor and both pages in interleaved rounds. Prints req/s, p50/p95/p99 and the
ratios to the floor; ``var/bench/gallery_page.json`` keeps the figures.

Run: ``python -m benchmarks.gallery_page`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from benchmarks.foundation import Target, asgi_server, measure_rounds, print_targets, probe, ratio

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cloudstamp_bench_gallery"
GALLERY_PATH = "/gallery/"
# Matches one item in five by name and, of those, the Linux ones: a page of a filtered list.
SEARCH_PATH = "/gallery/?q=database&os=linux"
FEW_ITEMS = 50  # the query count is taken with this many items offered, then with all
NOUNS = ("web server", "database", "cache", "message queue", "build agent")
ADJECTIVES = ("Hardened", "Minimal", "Clustered", "Managed", "Classic", "Tuned", "Compact", "Secure")
CATEGORIES = ("os", "web", "database", "cluster", "developer", "other")
OS_FAMILIES = ("linux", "linux", "linux", "windows", "other")  # mostly Linux, as in real galleries


def _noun(i: int) -> str:
    return NOUNS[i % len(NOUNS)]


def _os_family(i: int) -> str:
    # Not in step with the nouns, so the search's OS filter really narrows its matches.
    return OS_FAMILIES[(i // len(NOUNS)) % len(OS_FAMILIES)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gallery_page", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_GALLERY_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--tenants", type=int, default=200, help="foundation tenants around the bench one")
    parser.add_argument("--items", type=int, default=500, help="gallery items the bench tenant is offered")
    parser.add_argument("--versions", type=int, default=5, help="versions per item")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per target")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleave the targets this many times and merge"
    )
    parser.add_argument("--output", default=str(ROOT / "var/bench/gallery_page.json"))
    return parser.parse_args(argv)


# --- seeding ---------------------------------------------------------------------------------------


def _documents() -> dict:
    """The web farm sample's documents: what a realistic version row carries."""
    sample = json.loads((ROOT / "gallery/samples/web-farm.json").read_text())["versions"][0]
    return {
        "resource_definition": sample["resource"],
        "parameter_definition": sample["parameters"],
        "resource_extension": sample["extension"],
    }


def seed_gallery(*, start: int, stop: int, versions: int, plan, hidden_plan) -> None:
    """Items ``start`` .. ``stop - 1`` with their versions, with bulk_create. Every fifth item
    also gets a twin that only ``hidden_plan`` offers, which the bench tenant must not see."""
    from django.db import transaction
    from django.utils import timezone

    from gallery.models import GalleryItem, GalleryItemVersion

    docs = _documents()
    now = timezone.now()
    states = ["deprecated"] + ["published"] * max(versions - 2, 0) + ["draft"]
    items, versions_rows, offered, hidden = [], [], [], []
    for i in range(start, stop):
        noun = _noun(i)
        for twin in (False, True) if i % 5 == 0 else (False,):
            slug = f"{'hidden-' if twin else ''}item-{i:05d}"
            item = GalleryItem(
                id=uuid.uuid4(),
                name=f"{ADJECTIVES[i % len(ADJECTIVES)]} {noun} {i:05d}",
                slug=slug,
                publisher=f"Publisher {i % 17}",
                description=f"A {noun} image for the benchmark, number {i}. " * 4,
                category=CATEGORIES[i % len(CATEGORIES)],
                os_family=_os_family(i),
                icon="box",
            )
            items.append(item)
            (hidden if twin else offered).append(item)
            for n, state in enumerate(states[:versions]):
                versions_rows.append(
                    GalleryItemVersion(
                        item=item,
                        major=1,
                        minor=n,
                        build=0,
                        state=state,
                        notes=f"Release 1.{n}.0.",
                        published_at=None if state == "draft" else now,
                        **docs,
                    )
                )
    through = GalleryItem.plans.through
    with transaction.atomic():
        GalleryItem.objects.bulk_create(items, batch_size=1000)
        GalleryItemVersion.objects.bulk_create(versions_rows, batch_size=500)
        through.objects.bulk_create(
            [through(galleryitem_id=item.pk, plan_id=plan.pk) for item in offered]
            + [through(galleryitem_id=item.pk, plan_id=hidden_plan.pk) for item in hidden],
            batch_size=2000,
        )


def page_queries(session_cookie: str, path: str) -> tuple[int, str]:
    """The number of queries one GET of ``path`` runs, in-process, and the page's HTML."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.cookies["sessionid"] = session_cookie
    client.get(path)  # once to warm caches that are filled once per process, not per request
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code} in-process.")
    return len(queries.captured_queries), response.content.decode()


def expected_counts(items: int) -> dict[str, int]:
    """How many items each page should say it lists."""
    search = sum(1 for i in range(items) if _noun(i) == "database" and _os_family(i) == "linux")
    return {"gallery": items, "gallery-search": search}


def listed(html: str) -> tuple[int | None, int]:
    """(the count the page states, the cards on this page)."""
    match = re.search(r"(\d+) items?</p>", html)
    return (int(match[1]) if match else None), html.count('<article class="card')


# --- the run ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.items <= FEW_ITEMS:
        raise SystemExit(f"--items must be more than {FEW_ITEMS}: the query count is compared at both sizes.")
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["DATABASE_URL"] = args.database_url
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.db import connection

    from benchmarks import seed
    from subscriptions.models import Plan, Subscription

    started = time.monotonic()
    connection.close()
    name = seed.recreate_database(args.database_url)
    print(f"==> Database {name} created", flush=True)
    seed.migrate()
    counts = seed.seed(tenants=args.tenants, users_per_tenant=3, bench_subscriptions=3)
    print(f"==> Seeded the foundation: {asdict(counts)}", flush=True)
    creds = seed.credentials()
    plan = Subscription.objects.filter(tenant_id=creds.tenant_id).order_by("name").first().plan
    hidden_plan = Plan.objects.exclude(subscriptions__tenant_id=creds.tenant_id).order_by("name").first()

    # The query count must not grow with the gallery: measure it at two sizes.
    seed_gallery(start=0, stop=FEW_ITEMS, versions=args.versions, plan=plan, hidden_plan=hidden_plan)
    queries = {FEW_ITEMS: page_queries(creds.session_cookie, GALLERY_PATH)[0]}
    t0 = time.monotonic()
    seed_gallery(start=FEW_ITEMS, stop=args.items, versions=args.versions, plan=plan, hidden_plan=hidden_plan)
    queries[args.items] = page_queries(creds.session_cookie, GALLERY_PATH)[0]
    search_queries = page_queries(creds.session_cookie, SEARCH_PATH)[0]
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(
        f"==> Seeded the gallery in {time.monotonic() - t0:.1f} s: {args.items} offered items "
        f"(+{len(range(0, args.items, 5))} offered elsewhere) x {args.versions} versions",
        flush=True,
    )
    print(
        f"==> Queries per page: {queries[FEW_ITEMS]} with {FEW_ITEMS} items, {queries[args.items]} with "
        f"{args.items}; {search_queries} for the search",
        flush=True,
    )
    if queries[FEW_ITEMS] != queries[args.items]:
        raise SystemExit(
            f"FAIL: the gallery page's query count grows with the gallery ({queries[FEW_ITEMS]} queries "
            f"with {FEW_ITEMS} items, {queries[args.items]} with {args.items})."
        )
    connection.close()

    session = f"Cookie: sessionid={creds.session_cookie}"
    targets = [
        Target("floor", "/bench/floor/", description="constant JSON (framework floor)"),
        Target("gallery", GALLERY_PATH, [session], description="tenant gallery, first page (session)"),
        Target("gallery-search", SEARCH_PATH, [session], description="search and filter (session)"),
    ]
    expected = expected_counts(args.items)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "benchmarks.settings"}
    with asgi_server(env, ROOT / "var/bench/gallery_server.log") as base:
        print(f"==> Server on {base}", flush=True)
        for target in targets[1:]:
            status, body = probe(base, target)
            stated, cards = listed(body.decode()) if status == 200 else (None, 0)
            if status != 200 or stated != expected[target.name] or cards != min(stated or 0, 25):
                raise SystemExit(
                    f"{target.path} answered {status} listing {stated} items in {cards} cards; "
                    f"expected {expected[target.name]}."
                )
            print(f"==> {target.path} lists {stated} items, {cards} on the first page", flush=True)
        results = measure_rounds(
            base,
            targets,
            seconds=args.seconds,
            rounds=args.rounds,
            warmup=args.warmup,
            concurrency=args.concurrency,
        )
    floor = results["floor"]
    ratios = {
        name: {
            "throughput_vs_floor": ratio(r["rps"], floor["rps"]),
            "p50_vs_floor": ratio(r["p50_ms"], floor["p50_ms"]),
        }
        for name, r in results.items()
        if name != "floor"
    }
    meta = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "server": "uvicorn, 1 worker process, DEBUG=false",
        "db_connections": _db_connections(),
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "rounds": max(1, args.rounds),
        "items": args.items,
        "versions": args.versions,
        "queries": {"few": {"items": FEW_ITEMS, "queries": queries[FEW_ITEMS]}, "all": queries[args.items]},
        "search_queries": search_queries,
        "total_s": round(time.monotonic() - started, 1),
    }
    print_report(results, ratios, meta)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results, "ratios": ratios}, indent=2) + "\n")
    print(f"Results written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    bad = sum(r["requests"] - r["ok"] + sum(r["errors"].values()) for r in results.values())
    return 1 if bad else 0


def print_report(results: dict[str, dict], ratios: dict, meta: dict) -> None:
    print()
    print(
        f"Cloudstamp gallery page benchmark: uvicorn (1 worker), concurrency {meta['concurrency']}, "
        f"{meta['seconds']:g} s per target in {meta['rounds']} rounds, {meta['cpus']} CPUs, "
        f"database connections: {meta['db_connections']}"
    )
    print(
        f"Seed: {meta['items']} items offered x {meta['versions']} versions; queries per page: "
        f"{meta['queries']['few']['queries']} with {meta['queries']['few']['items']} items, "
        f"{meta['queries']['all']} with {meta['items']} (constant), {meta['search_queries']} for the search."
    )
    print()
    print_targets(results, name_width=15, path_width=34)
    print()
    print("Ratios to the framework floor (throughput; p50 latency):")
    for name, r in ratios.items():
        print(
            f"  {name:<15} {r['throughput_vs_floor']:>6.2f}x the floor's req/s; p50 {r['p50_vs_floor']:.1f}x"
        )


def _db_connections() -> str:
    from django.conf import settings

    return settings.BENCH_DB_CONNECTIONS


if __name__ == "__main__":
    sys.exit(main())
