"""The dashboard and the API list of subscriptions run a constant number of queries, whatever
the number of rows on the page and in the database (the issue's benchmark section).

Each check renders the page for a small world (2 subscriptions, 5 tenants), grows the world
(25 subscriptions with ledgers and add-ons, 50 tenants with their own users and
subscriptions), renders again, and compares the query counts. Every measurement follows an
unmeasured request, so one-off writes (a token's ``last_used_at``) and caches do not count.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from subscriptions.models import Allocation, Subscription, SubscriptionAddOn
from tenants.models import Role
from tenants.services import api_token_create
from tenants.views import DASHBOARD_CARDS
from tests.factories import (
    AddOnFactory,
    MembershipFactory,
    PlanFactory,
    SubscriptionFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

API_LIST = "/api/v1/subscriptions/"
SMALL = {"subscriptions": 2, "tenants": 5}
LARGE = {"subscriptions": 25, "tenants": 50}


class World:
    """Acme (alice's tenant) with some subscriptions, among some other tenants."""

    def __init__(self, acme, plan) -> None:
        self.acme, self.plan = acme, plan
        self.addon = AddOnFactory(name="Extra VMs", plans=[plan])
        self.subscriptions: list[Subscription] = []
        self.tenants = 1  # Acme

    def grow(self, *, subscriptions: int, tenants: int) -> None:
        while len(self.subscriptions) < subscriptions:
            n = len(self.subscriptions)
            sub = SubscriptionFactory(
                tenant=self.acme,
                plan=self.plan,
                name=f"Acme project {n:02d}",
                # Suspended ones are on the dashboard too, with their own markup.
                state=Subscription.State.SUSPENDED if n % 4 == 3 else Subscription.State.ACTIVE,
            )
            Allocation.objects.create(
                subscription=sub, resource_type="vm", resource_id=uuid.uuid4(), vms=1, vcpus=2
            )
            if n % 2:
                SubscriptionAddOn.objects.create(subscription=sub, addon=self.addon, quantity=n % 3 + 1)
            self.subscriptions.append(sub)
        while self.tenants < tenants:
            other = TenantFactory()
            user = UserFactory()
            MembershipFactory(tenant=other, user=user, role=Role.OWNER)
            SubscriptionFactory(tenant=other, plan=self.plan, name=f"{other.name} subscription")
            self.tenants += 1


@pytest.fixture
def world(acme, alice) -> World:
    return World(acme, PlanFactory(name="Team", max_subscriptions_per_tenant=100))


def _queries(client: Client, path: str, **headers) -> tuple[int, object]:
    client.get(path, **headers)  # unmeasured: first-use writes and caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **headers)
    assert response.status_code == 200, response.content[:500]
    return len(captured), response


def _counts_small_and_large(world: World, measure) -> tuple[int, int]:
    world.grow(**SMALL)
    small = measure(SMALL["subscriptions"])
    world.grow(**LARGE)
    large = measure(LARGE["subscriptions"])
    return small, large


def test_the_dashboard_runs_the_same_queries_for_2_or_25_subscriptions(world, client_alice):
    def measure(rows: int) -> int:
        count, response = _queries(client_alice, reverse("tenants:dashboard"))
        html = response.content.decode()
        shown = [s for s in world.subscriptions[:rows] if s.name in html]
        # At most DASHBOARD_CARDS cards; the rest are a link away.
        assert len(shown) == min(rows, DASHBOARD_CARDS)
        assert (f"View all {rows} subscriptions" in html) == (rows > DASHBOARD_CARDS)
        return count

    small, large = _counts_small_and_large(world, measure)
    assert small == large, f"the dashboard ran {small} queries for 2 subscriptions and {large} for 25"


def test_the_api_list_runs_the_same_queries_for_2_or_25_subscriptions_in_a_session(world, client_alice):
    def measure(rows: int) -> int:
        count, response = _queries(client_alice, API_LIST)
        assert response.json()["count"] == rows
        assert len(response.json()["results"]) == rows
        return count

    small, large = _counts_small_and_large(world, measure)
    assert small == large, f"the API list ran {small} queries for 2 subscriptions and {large} for 25"


def test_the_api_list_runs_the_same_queries_for_2_or_25_subscriptions_with_a_token(
    world, acme, alice, client
):
    _, raw = api_token_create(
        tenant=acme,
        user=alice,
        name="query counts",
        role=Role.OWNER,
        expires_in_days=7,
        actor_role=Role.OWNER,
    )

    def measure(rows: int) -> int:
        count, response = _queries(client, API_LIST, HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert [r["quota"][0]["dimension"] for r in response.json()["results"]] == ["vms"] * rows
        return count

    small, large = _counts_small_and_large(world, measure)
    assert small == large, f"the API list ran {small} queries for 2 subscriptions and {large} for 25"
