"""The references the benchmarks measure beside the real pages, in the same server.

- ``floor``: the framework floor. A view that returns constant JSON through the same
  middleware stack; nothing a real page does can be cheaper.
- ``raw_subscriptions``: the lower bound for the subscription list. One hand-written SQL
  statement fetches the same page ``GET /api/v1/subscriptions/`` returns (plan, quota used and
  limit per dimension, the total count) and orjson serialises it, with no ORM, serializer or
  DRF machinery. It does not authenticate: the tenant comes from the URL, so the difference
  to the API is everything the API adds (auth, tenancy, ORM, serializers, pagination).
- ``raw_vms``: the same for ``GET /api/v1/vms/`` (``benchmarks.vm_list``): one statement for a
  page of the tenant's live VMs, newest first, with their deployment's and subscription's
  names, the one-word status and the total, serialised by orjson (see ``VM_PAGE_SQL``).
"""

from __future__ import annotations

import orjson
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from subscriptions.quota import DIMENSIONS

PAGE_SIZE = 50

_PLAN_COLUMNS = ", ".join(f"p.{d} AS plan_{d}" for d in DIMENSIONS)
_USED_SUMS = ", ".join(f"SUM(a.{d}) AS {d}" for d in DIMENSIONS)
_EXTRA_SUMS = ", ".join(f"SUM(ad.{d} * sa.quantity) AS {d}" for d in DIMENSIONS)
_USED_COLUMNS = ", ".join(f"COALESCE(u.{d}, 0)" for d in DIMENSIONS)
_LIMIT_COLUMNS = ", ".join(f"page.plan_{d} + COALESCE(x.{d}, 0)" for d in DIMENSIONS)

# One round trip: the page of subscriptions with their plan, the tenant's total (a window
# count over the same filter), and per row the ledger sum and the add-on quota, in the
# order the API lists them (newest first).
SUBSCRIPTION_PAGE_SQL = f"""
WITH page AS (
    SELECT s.id, s.name, s.state, s.state_reason, s.state_changed, s.created, s.plan_id,
           p.name AS plan_name, {_PLAN_COLUMNS},
           COUNT(*) OVER () AS total
    FROM subscriptions_subscription s
    JOIN subscriptions_plan p ON p.id = s.plan_id
    WHERE s.tenant_id = %s
    ORDER BY s.created DESC, s.id
    LIMIT %s OFFSET %s
)
SELECT page.id, page.name, page.state, page.state_reason, page.state_changed, page.created,
       page.plan_id, page.plan_name, page.total,
       {_USED_COLUMNS}, {_LIMIT_COLUMNS}
FROM page
LEFT JOIN LATERAL (
    SELECT {_USED_SUMS} FROM subscriptions_allocation a WHERE a.subscription_id = page.id
) u ON TRUE
LEFT JOIN LATERAL (
    SELECT {_EXTRA_SUMS}
    FROM subscriptions_subscriptionaddon sa JOIN subscriptions_addon ad ON ad.id = sa.addon_id
    WHERE sa.subscription_id = page.id
) x ON TRUE
ORDER BY page.created DESC, page.id
"""


def floor(request: HttpRequest) -> JsonResponse:
    """The framework floor: constant JSON."""
    return JsonResponse({"status": "ok", "items": []})


def subscription_page(tenant_id, *, page: int = 1, size: int = PAGE_SIZE) -> dict:
    """The tenant's subscription page as plain data, in the API's envelope."""
    with connection.cursor() as cursor:
        cursor.execute(SUBSCRIPTION_PAGE_SQL, [tenant_id, size, (page - 1) * size])
        rows = cursor.fetchall()
    n = len(DIMENSIONS)
    results = []
    for row in rows:
        used, limit = row[9 : 9 + n], row[9 + n : 9 + 2 * n]
        results.append(
            {
                "id": row[0],
                "name": row[1],
                "state": row[2],
                "state_reason": row[3],
                "state_changed": row[4],
                "created": row[5],
                "plan": {"id": row[6], "name": row[7]},
                "quota": [
                    {"dimension": d, "used": int(u), "limit": int(lim)}
                    for d, u, lim in zip(DIMENSIONS, used, limit, strict=True)
                ],
            }
        )
    return {"count": rows[0][8] if rows else 0, "next": None, "previous": None, "results": results}


def raw_subscriptions(request: HttpRequest, tenant_id) -> HttpResponse:
    """The lower bound for ``GET /api/v1/subscriptions/``: raw SQL and orjson."""
    return HttpResponse(orjson.dumps(subscription_page(tenant_id)), content_type="application/json")


# The tenant's live VMs, newest first, as GET /api/v1/vms/ lists them, in one round trip
# written for the planner: the page's 50 rows are chosen first (a top-N over the tenant's VMs),
# only they are joined to their deployment and subscription, and the total is a scalar count
# (an index-only scan). A window count (COUNT(*) OVER ()) here would make PostgreSQL join and
# read all 5,000 rows before the LIMIT: 44 ms against 5 ms on the benchmark's seed.
VM_PAGE_SQL = """
SELECT v.id, v.name, v.hostname,
       CASE WHEN v.task_state <> '' THEN v.task_state
            WHEN v.provisioning_state = 'active' THEN v.power_state
            ELSE v.provisioning_state END,
       v.provisioning_state, v.power_state, v.task_state, v.message,
       v.size_name, v.vcpus, v.ram_gib, v.disk_gib, v.image,
       v.deployment_id, d.name, v.subscription_id, s.name, v.created, v.launched_at,
       (SELECT COUNT(*) FROM compute_virtualmachine c
        WHERE c.tenant_id = %(tenant)s AND c.provisioning_state <> 'deleted')
FROM (
    SELECT * FROM compute_virtualmachine
    WHERE tenant_id = %(tenant)s AND provisioning_state <> 'deleted'
    ORDER BY created DESC, name
    LIMIT %(limit)s OFFSET %(offset)s
) v
JOIN compute_deployment d ON d.id = v.deployment_id
JOIN subscriptions_subscription s ON s.id = v.subscription_id
ORDER BY v.created DESC, v.name
"""


def vm_page(tenant_id, *, page: int = 1, size: int = PAGE_SIZE) -> dict:
    """The tenant's VM page as plain data, in the API's envelope and row shape."""
    with connection.cursor() as cursor:
        cursor.execute(VM_PAGE_SQL, {"tenant": tenant_id, "limit": size, "offset": (page - 1) * size})
        rows = cursor.fetchall()
    results = [
        {
            "id": r[0],
            "name": r[1],
            "hostname": r[2],
            "status": r[3],
            "provisioning_state": r[4],
            "power_state": r[5],
            "task_state": r[6],
            "message": r[7],
            "size": {"name": r[8], "vcpus": r[9], "ram_gib": r[10], "disk_gib": r[11]},
            "image": r[12],
            "deployment": {"id": r[13], "name": r[14]},
            "subscription": {"id": r[15], "name": r[16]},
            "created": r[17],
            "launched_at": r[18],
        }
        for r in rows
    ]
    return {"count": rows[0][19] if rows else 0, "next": None, "previous": None, "results": results}


def raw_vms(request: HttpRequest, tenant_id) -> HttpResponse:
    """The lower bound for ``GET /api/v1/vms/`` (``?page``, ``?page_size``): raw SQL and orjson."""
    try:
        page = int(request.GET.get("page", 1))
        size = int(request.GET.get("page_size", PAGE_SIZE))
    except ValueError:
        return HttpResponseBadRequest()
    return HttpResponse(
        orjson.dumps(vm_page(tenant_id, page=page, size=size)), content_type="application/json"
    )
