"""Every admin list runs a constant number of queries, whatever the number of rows."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.audit import audit_record
from subscriptions.models import SubscriptionAddOn
from subscriptions.quota import Demand
from subscriptions.services import quota_reserve
from tests.factories import (
    AddOnFactory,
    MembershipFactory,
    PlanFactory,
    SubscriptionFactory,
    TenantFactory,
    UserFactory,
)


def _seed(n: int) -> None:
    """``n`` tenants, each with two members, a subscription holding an add-on and an
    allocation, and an audit event; plans and add-ons to match."""
    for i in range(n):
        tenant = TenantFactory()
        MembershipFactory(tenant=tenant, user=UserFactory())
        MembershipFactory(tenant=tenant, user=UserFactory(), role="reader")
        plan = PlanFactory()
        addon = AddOnFactory(plans=[plan])
        subscription = SubscriptionFactory(tenant=tenant, plan=plan)
        SubscriptionAddOn.objects.create(subscription=subscription, addon=addon, quantity=2)
        with transaction.atomic():
            quota_reserve(subscription=subscription, demand=Demand(vms=1, vcpus=i % 3), resource_type="vm")
        audit_record(actor=None, tenant=tenant, action="test.seed", target=subscription)


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


LISTS = ["tenants", "subscriptions", "users", "plans", "activity", "overview"]


@pytest.mark.parametrize("name", LISTS)
def test_the_list_does_not_grow_in_queries_from_3_to_30_rows(name, client_admin):
    url = reverse(f"adminportal:{name}")
    _seed(3)
    few = _count(client_admin, url)
    _seed(27)
    many = _count(client_admin, url)
    assert many == few, f"{url}: {few} queries for 3 rows, {many} for 30"


def test_the_tenants_and_subscriptions_lists_show_all_30_rows_with_counts_and_bars(client_admin):
    _seed(30)
    tenants = client_admin.get(reverse("adminportal:tenants")).context["page_obj"]
    assert len(tenants) == 25
    assert {(t.member_count, t.subscription_count) for t in tenants} == {(2, 1)}
    rows = client_admin.get(reverse("adminportal:subscriptions")).context["rows"]
    assert len(rows) == 25
    # Plan (10 VMs) + 2 × add-on (5 VMs each) = 20 VMs; 1 used.
    assert {(r[0]["used"], r[0]["limit"]) for _, r in rows} == {(1, 20)}
