"""Reads for plans and subscriptions, each in a constant number of queries."""

from __future__ import annotations

import uuid
from collections import defaultdict
from functools import cache

import orjson
from django.db import connections, router
from django.db.models import (
    Count,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Window,
)

from portal.compiled import StandIn, compile_once
from subscriptions.models import AddOn, Allocation, Plan, Subscription, SubscriptionAddOn
from subscriptions.quota import DIMENSIONS, Demand, QuotaUsage


def subscription_list(*, tenant, states: list[str] | None = None) -> QuerySet[Subscription]:
    qs = Subscription.objects.for_tenant(tenant).select_related("plan")
    if states:
        qs = qs.filter(state__in=states)
    return qs


# A ``subscription_rows`` row: these columns, the plan's limit per dimension (``plan__<dim>``)
# and two JSON arrays (as text) in ``DIMENSIONS`` order, ``used`` (the quota ledger's sums) and
# ``addon_quota`` (what attached add-ons add, times their quantity); either is None when there
# is nothing to sum. Read them with ``row_quota`` or ``quota_usage_from_row``.
ROW_FIELDS = ("id", "name", "state", "state_reason", "state_changed", "created", "plan_id", "plan__name")
_PLAN_LIMITS = tuple(f"plan__{d}" for d in DIMENSIONS)
_NOTHING = (0,) * len(DIMENSIONS)


class _JSONNumbers(Func):
    """A JSON array of numbers, as text. Not ``JSONArray``: that builds jsonb and casts every
    item on PostgreSQL, which costs more to compile and to run, and is decoded again by a
    JSONField converter per value; ``row_quota`` parses this text with orjson instead."""

    function = "JSON_ARRAY"  # SQLite
    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            function="JSON_BUILD_ARRAY",
            template="%(function)s(%(expressions)s)::text",
            **extra_context,
        )


def _sums_per_subscription(queryset: QuerySet, amounts: list) -> Subquery:
    """``[SUM(amount) for amount in amounts]`` over ``queryset``'s rows of the outer
    subscription, as ONE correlated subquery returning a JSON array.

    One subquery per table instead of one per dimension: six scalar subqueries per table
    cost PostgreSQL a sub-plan run each per row (3x the database time on a 50-row page) and
    Django several times the work to build and compile; a JSON array of sums carries the
    same figures in one pass, on PostgreSQL and SQLite alike.
    """
    return Subquery(
        queryset.filter(subscription_id=OuterRef("pk"))
        .order_by()
        .values("subscription_id")
        .annotate(sums=_JSONNumbers(*(Sum(amount) for amount in amounts)))
        .values("sums")
    )


@cache
def _rows_base() -> QuerySet[dict]:
    """Every subscription's row with its quota sums: built once per process, filtered per call.

    Resolving the subqueries and joins is most of the ORM's work for this query (about 1 ms a
    request); a filtered clone of a built queryset shares the resolved expressions and only
    copies the WHERE clause. Querysets are immutable, so sharing this one is safe.
    """
    return Subscription.objects.values(
        *ROW_FIELDS,
        *_PLAN_LIMITS,
        used=_sums_per_subscription(Allocation.objects.all(), list(DIMENSIONS)),
        addon_quota=_sums_per_subscription(
            SubscriptionAddOn.objects.all(), [F(f"addon__{d}") * F("quantity") for d in DIMENSIONS]
        ),
    )


def subscription_rows(*, tenant, states: list[str] | None = None) -> QuerySet[dict]:
    """The tenant's subscriptions as plain dicts with their plan and quota, in ONE query.

    For hot lists (the API list, the dashboard): no model instances and no per-figure Python
    objects, and since the sums are correlated subqueries, ordering and LIMIT/OFFSET paging
    work as on any queryset. See ``ROW_FIELDS`` for a row's keys; callers choose the order.
    """
    qs = _rows_base().filter(tenant=tenant)
    if states:
        qs = qs.filter(state__in=states)
    return qs


# --- one page of rows for the API list, its SQL compiled once -----------------------------------

# The API lists subscriptions newest first; ``pk`` makes the order total, so pages never overlap.
PAGE_ORDER = ("-created", "pk")
_TOTAL = "_total"


def _page_queryset(*, tenant, states: list[str] | None) -> QuerySet[dict]:
    """The API's page query (without LIMIT): rows newest first, each with the total count."""
    return (
        subscription_rows(tenant=tenant, states=states)
        .order_by(*PAGE_ORDER)
        .annotate(**{_TOTAL: Window(Count("pk"))})
    )


def _page_stand_ins(n_states: int) -> dict[str, StandIn]:
    tenant, state = Subscription._meta.get_field("tenant"), Subscription._meta.get_field("state")
    # Any tenant id no tenant has, and states no subscription has, will do.
    stand_ins = {"tenant": StandIn(uuid.UUID("0b5e7c1e-2f4a-4d8e-9c3b-6a1f0e2d4c58"), tenant)}
    stand_ins.update({f"state{n}": StandIn(f"<state {n}>", state) for n in range(n_states)})
    return stand_ins


def _page_query(tenant, **states: str) -> QuerySet[dict]:
    return _page_queryset(tenant=tenant, states=list(states.values()))


def subscription_rows_page(
    *, tenant, states: list[str] | None = None, offset: int, size: int
) -> tuple[list[dict], int]:
    """One page of the tenant's ``subscription_rows``, newest first, and how many rows there
    are in all: ONE query, for ``GET /api/v1/subscriptions/``.

    The same query as the ORM's ``_page_queryset(...)[offset:offset + size]``, with its SQL
    compiled once per database and number of states (``portal.compiled``): building,
    compiling and iterating it through the ORM took about 0.75 ms of Python a request on the
    benchmark's page, a third of the page's time. tests/subscriptions/test_selectors.py keeps
    both paths equal.
    """
    states = list(dict.fromkeys(states or ()))  # as ``__in`` sees them: unique, in order
    connection = connections[router.db_for_read(Subscription)]
    compiled = compile_once(
        ("subscription_rows_page", len(states)),
        connection,
        _page_query,
        _page_stand_ins(len(states)),
        suffix=" LIMIT %s OFFSET %s",
    )
    if compiled is None:
        rows = list(_page_queryset(tenant=tenant, states=states)[offset : offset + size])
    else:
        values = {"tenant": getattr(tenant, "pk", tenant)} | {f"state{n}": s for n, s in enumerate(states)}
        rows = compiled.fetch(connection, values, extra=(size, offset))
    total = 0
    for row in rows:  # every row carries the total; the page's business, not the rows'
        total = row.pop(_TOTAL)
    return rows, total


def row_quota(row: dict) -> list[tuple[str, int, int]]:
    """``(dimension, used, limit)`` for every dimension of a ``subscription_rows`` row."""
    used = orjson.loads(row["used"]) if row["used"] else _NOTHING
    extra = orjson.loads(row["addon_quota"]) if row["addon_quota"] else _NOTHING
    return [
        (d, u, row[plan_limit] + x)
        for d, plan_limit, u, x in zip(DIMENSIONS, _PLAN_LIMITS, used, extra, strict=True)
    ]


def quota_usage_from_row(row: dict) -> QuotaUsage:
    """The ``QuotaUsage`` of a ``subscription_rows`` row (no query)."""
    used, limit = {}, {}
    for d, u, lim in row_quota(row):
        used[d], limit[d] = u, lim
    return QuotaUsage(used=Demand(**used), limit=Demand(**limit))


def subscription_get(*, tenant, pk) -> Subscription:
    """A tenant's subscription, or ``Subscription.DoesNotExist`` (404) for anyone else's."""
    return Subscription.objects.for_tenant(tenant).select_related("plan", "tenant").get(pk=pk)


def quota_usage_many(subscriptions: list[Subscription]) -> dict:
    """``{subscription.pk: QuotaUsage}`` for many subscriptions in two queries, whatever
    their number (the plans must already be loaded with ``select_related``)."""
    ids = [s.pk for s in subscriptions]
    used: dict = defaultdict(Demand)
    for row in (
        Allocation.objects.filter(subscription_id__in=ids)
        .values("subscription_id")
        .annotate(**{d: Sum(d) for d in DIMENSIONS})
    ):
        used[row["subscription_id"]] = Demand(**{d: row[d] or 0 for d in DIMENSIONS})
    extra: dict = defaultdict(Demand)
    for link in SubscriptionAddOn.objects.filter(subscription_id__in=ids).select_related("addon"):
        extra[link.subscription_id] = extra[link.subscription_id] + link.addon.as_demand() * link.quantity
    return {s.pk: QuotaUsage(used=used[s.pk], limit=s.plan.as_demand() + extra[s.pk]) for s in subscriptions}


def plans_for_tenant(*, tenant) -> QuerySet[Plan]:
    """Public, active plans, annotated with how many subscriptions the tenant holds to each."""
    return Plan.objects.subscribable().annotate(
        held=Count(
            "subscriptions",
            filter=Q(subscriptions__tenant=tenant) & ~Q(subscriptions__state=Subscription.State.CANCELLED),
        )
    )


def plan_by_code(*, code: str) -> Plan | None:
    code = (code or "").strip()
    if not code:
        return None
    return Plan.objects.active().filter(visibility="code", invitation_code=code).first()


def addons_for_subscription(subscription: Subscription) -> QuerySet[AddOn]:
    return AddOn.objects.filter(plans=subscription.plan, state=AddOn.State.ACTIVE)


def plan_list() -> QuerySet[Plan]:
    return Plan.objects.annotate(
        subscription_count=Count("subscriptions", filter=~Q(subscriptions__state="cancelled"))
    ).prefetch_related(Prefetch("addons", queryset=AddOn.objects.order_by("name")))
