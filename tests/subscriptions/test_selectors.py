"""subscription_rows and subscription_rows_page: a tenant's subscriptions with plan and quota in
one query, agreeing with quota_usage_many on every figure."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction

from portal import compiled
from subscriptions import selectors
from subscriptions.models import Allocation, Subscription, SubscriptionAddOn
from subscriptions.quota import DIMENSIONS, Demand
from subscriptions.selectors import (
    quota_usage_from_row,
    quota_usage_many,
    row_quota,
    subscription_list,
    subscription_rows,
    subscription_rows_page,
)
from subscriptions.services import quota_reserve
from tests.factories import AddOnFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _reserve(subscription, **demand) -> None:
    with transaction.atomic():
        quota_reserve(subscription=subscription, demand=Demand(**demand), resource_type="test")


@pytest.fixture
def acme_world(acme, plan):
    """Acme with subscriptions that have a ledger, add-ons (several, with quantities), both,
    or neither; one suspended, one cancelled."""
    other_plan = PlanFactory(name="Big", vms=100, public_ips=4)
    big_addon = AddOnFactory(
        name="Big add-on", vms=3, vcpus=4, ram_gib=8, disk_gib=100, networks=1, public_ips=2
    )
    small_addon = AddOnFactory(name="Small add-on", vms=1, vcpus=0)
    made = []
    for n in range(6):
        state = {4: Subscription.State.SUSPENDED, 5: Subscription.State.CANCELLED}.get(n, "active")
        made.append(
            SubscriptionFactory(
                tenant=acme, plan=plan if n % 2 else other_plan, name=f"Acme {n}", state=state
            )
        )
    _reserve(made[0], vms=2, vcpus=3, ram_gib=4)
    _reserve(made[0], disk_gib=50, public_ips=1)
    SubscriptionAddOn.objects.create(subscription=made[1], addon=big_addon, quantity=2)
    SubscriptionAddOn.objects.create(subscription=made[1], addon=small_addon, quantity=5)
    _reserve(made[1], vms=1, networks=1)
    SubscriptionAddOn.objects.create(subscription=made[4], addon=small_addon, quantity=1)
    # Suspended and cancelled ones keep their ledger rows in these tests: the figures must
    # still add up whatever the state.
    Allocation.objects.create(subscription=made[5], resource_type="vm", resource_id=uuid.uuid4(), vms=1)
    return made


def test_rows_agree_with_quota_usage_many_on_every_figure(acme, acme_world, globex_subscription):
    _reserve(globex_subscription, vms=9)
    rows = list(subscription_rows(tenant=acme))
    usage = quota_usage_many(list(subscription_list(tenant=acme)))
    assert {row["id"] for row in rows} == {s.pk for s in acme_world}
    for row in rows:
        assert quota_usage_from_row(row) == usage[row["id"]], row["name"]


def test_a_row_names_its_plan_and_lists_used_and_limit_per_dimension(acme, acme_world, plan):
    row = next(r for r in subscription_rows(tenant=acme) if r["name"] == "Acme 1")
    assert (row["plan_id"], row["plan__name"]) == (plan.pk, "Standard")
    assert [d for d, _, _ in row_quota(row)] == list(DIMENSIONS)
    figures = {d: (used, limit) for d, used, limit in row_quota(row)}
    # Standard (10 VMs, 20 vCPUs, 5 networks, 2 public IPs) + 2 x big + 5 x small.
    assert figures["vms"] == (1, 10 + 2 * 3 + 5 * 1)
    assert figures["vcpus"] == (0, 20 + 2 * 4)
    assert figures["networks"] == (1, 5 + 2 * 1)
    assert figures["public_ips"] == (0, 2 + 2 * 2)


def test_a_subscription_with_nothing_to_sum_has_zero_used_and_the_plans_limits(acme, plan):
    SubscriptionFactory(tenant=acme, plan=plan, name="Empty")
    (row,) = subscription_rows(tenant=acme)
    assert (row["used"], row["addon_quota"]) == (None, None)
    assert quota_usage_from_row(row).used == Demand()
    assert quota_usage_from_row(row).limit == plan.as_demand()


def test_rows_are_one_query_whatever_their_number(acme, acme_world, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = list(subscription_rows(tenant=acme))
    assert len(rows) == 6


def test_rows_filter_by_state_and_stay_in_their_tenant(acme, globex, acme_world, globex_subscription):
    live = [Subscription.State.ACTIVE, Subscription.State.SUSPENDED]
    assert sorted(r["name"] for r in subscription_rows(tenant=acme, states=live)) == [
        f"Acme {n}" for n in range(5)
    ]
    assert [r["name"] for r in subscription_rows(tenant=globex)] == ["Globex secret project"]


# --- the API's page ----------------------------------------------------------------------------


def _orm_page(tenant, states, offset, size) -> list[dict]:
    """What the page is by definition: the ORM's queryset, sliced."""
    rows = list(selectors._page_queryset(tenant=tenant, states=states)[offset : offset + size])
    for row in rows:
        row.pop(selectors._TOTAL)
    return rows


@pytest.mark.parametrize(
    ("states", "offset", "size", "total"),
    [
        (None, 0, 50, 6),
        (None, 0, 4, 6),
        (None, 4, 4, 6),
        (["active"], 0, 2, 4),
        (["suspended", "cancelled"], 1, 5, 2),
        (["active", "active"], 0, 10, 4),
        (["cancelled"], 3, 5, 1),  # past the end: no rows
    ],
)
def test_the_page_is_the_orm_querysets_page_with_the_total(acme, acme_world, states, offset, size, total):
    rows, count = subscription_rows_page(tenant=acme, states=states, offset=offset, size=size)
    assert rows == _orm_page(acme, states, offset, size)
    assert count == (total if rows else 0)
    assert [r["created"] for r in rows] == sorted((r["created"] for r in rows), reverse=True)


def test_the_page_runs_its_compiled_statement_in_one_query(acme, acme_world, django_assert_num_queries):
    subscription_rows_page(tenant=acme, states=["active"], offset=0, size=3)
    with django_assert_num_queries(1):
        rows, count = subscription_rows_page(tenant=acme, states=["suspended"], offset=0, size=3)
    assert ([r["name"] for r in rows], count) == (["Acme 4"], 1)
    # The compiled SQL took the tenant and the state as parameters: the shortcut is in use.
    key = (("subscription_rows_page", 1), connection.alias, connection.vendor)
    assert compiled._compiled[key] is not None


def test_the_page_falls_back_to_the_orm_if_the_statement_cannot_be_reused(acme, acme_world, monkeypatch):
    monkeypatch.setattr(selectors, "compile_once", lambda *args, **kwargs: None)
    rows, count = subscription_rows_page(tenant=acme, offset=1, size=3)
    assert (rows, count) == (_orm_page(acme, None, 1, 3), 6)


def test_the_page_takes_a_tenant_or_its_id_and_never_shows_another_tenants_rows(
    acme, globex, acme_world, globex_subscription
):
    by_tenant, _ = subscription_rows_page(tenant=globex, offset=0, size=50)
    by_id, _ = subscription_rows_page(tenant=globex.pk, offset=0, size=50)
    assert [r["id"] for r in by_tenant] == [r["id"] for r in by_id] == [globex_subscription.pk]
    assert subscription_rows_page(tenant=uuid.uuid4(), offset=0, size=50) == ([], 0)
