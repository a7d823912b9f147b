"""/api/v1/plans/ and /api/v1/subscriptions/: list with quota, subscribe, cancel, add-ons."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from portal.models import AuditEvent
from subscriptions.models import Plan, Subscription, SubscriptionAddOn, Visibility
from subscriptions.quota import DIMENSIONS, Demand
from subscriptions.services import quota_reserve
from tests.api.conftest import Api, assert_no_trace_of, make_token
from tests.factories import AddOnFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _reserve(subscription, **demand) -> None:
    with transaction.atomic():
        quota_reserve(subscription=subscription, demand=Demand(**demand), resource_type="test")


# --- plans ---------------------------------------------------------------------------------------


def test_plans_lists_the_public_active_plans_with_their_limits_and_addons(api_alice, plan):
    addon = AddOnFactory(name="Extra compute", plans=[plan])
    PlanFactory(name="Hidden", visibility=Visibility.PRIVATE)
    PlanFactory(name="Old", state=Plan.State.RETIRED)
    PlanFactory(name="Secret", visibility=Visibility.CODE, invitation_code="OPEN-SESAME")
    body = api_alice.get("/plans/").json()
    assert [p["name"] for p in body["results"]] == ["Standard"]
    standard = body["results"][0]
    assert standard["limits"] == {
        "vms": 10,
        "vcpus": 20,
        "ram_gib": 40,
        "disk_gib": 500,
        "networks": 5,
        "public_ips": 2,
    }
    assert standard["held"] == 0
    assert [a["id"] for a in standard["addons"]] == [str(addon.pk)]
    assert "invitation_code" not in standard


def test_plans_counts_what_the_tenant_already_holds(api_alice, acme_subscription):
    assert api_alice.get("/plans/").json()["results"][0]["held"] == 1


def test_an_invitation_code_reveals_its_plan(api_alice, plan):
    secret = PlanFactory(name="Secret", visibility=Visibility.CODE, invitation_code="OPEN-SESAME")
    names = [p["name"] for p in api_alice.get("/plans/", code="OPEN-SESAME").json()["results"]]
    assert names == ["Secret", "Standard"]
    assert api_alice.get(f"/plans/{secret.pk}/").status_code == 404
    assert api_alice.get(f"/plans/{secret.pk}/", code="OPEN-SESAME").status_code == 200


def test_a_private_plan_is_not_found(api_alice):
    hidden = PlanFactory(name="Hidden", visibility=Visibility.PRIVATE)
    response = api_alice.get(f"/plans/{hidden.pk}/")
    assert response.status_code == 404
    assert_no_trace_of(response, "Hidden")


# --- list --------------------------------------------------------------------------------------


def test_subscriptions_lists_the_tenants_subscriptions_with_quota(
    api_carol, acme_subscription, globex_subscription
):
    addon = AddOnFactory(vms=5, vcpus=10, plans=[acme_subscription.plan])
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon, quantity=2)
    _reserve(acme_subscription, vms=2, vcpus=4)
    response = api_carol.get("/subscriptions/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["name"] == "Acme production"
    assert row["plan"] == {"id": str(acme_subscription.plan.pk), "name": "Standard"}
    quota = {q["dimension"]: (q["used"], q["limit"]) for q in row["quota"]}
    assert list(quota) == list(DIMENSIONS)
    assert quota["vms"] == (2, 10 + 2 * 5)
    assert quota["vcpus"] == (4, 20 + 2 * 10)
    assert quota["ram_gib"] == (0, 40)
    assert_no_trace_of(response, "Globex secret project", globex_subscription.pk)


def _subscriptions(tenant, plan, n: int) -> None:
    addon = AddOnFactory(plans=[plan])
    for i in range(n):
        subscription = SubscriptionFactory(tenant=tenant, plan=plan, name=f"Sub {i}")
        SubscriptionAddOn.objects.create(subscription=subscription, addon=addon, quantity=1)
        _reserve(subscription, vms=1)


def _count_queries(api, path: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path)
    assert response.status_code == 200
    return len(queries), response.json()


@pytest.mark.parametrize("by", ["session", "token"])
def test_the_subscription_list_runs_the_same_queries_for_3_or_30_rows(by, alice, acme, globex, plan):
    api = Api(user=alice) if by == "session" else Api(token=make_token(alice, acme))
    other = PlanFactory(name="Other")
    api.get("/me/")  # the token's first use writes last_used_at; later ones within a minute do not
    _subscriptions(acme, plan, 3)
    few, body = _count_queries(api, "/subscriptions/")
    assert body["count"] == 3
    _subscriptions(acme, other, 27)
    many, body = _count_queries(api, "/subscriptions/")
    assert body["count"] == 30
    assert all(q["used"] == 1 for row in body["results"] for q in row["quota"] if q["dimension"] == "vms")
    assert many == few
    # A token: the token with its tenant, user and role, then the page with its plans, quota
    # and total. A session (read from the cache): its user with their memberships, then the page.
    assert few == 2, f"{few} queries for one page of subscriptions"


def test_the_list_filters_by_state(api_alice, acme, plan):
    SubscriptionFactory(tenant=acme, plan=plan, name="Live")
    SubscriptionFactory(tenant=acme, plan=plan, name="Gone", state=Subscription.State.CANCELLED)
    names = [s["name"] for s in api_alice.get("/subscriptions/", state="cancelled").json()["results"]]
    assert names == ["Gone"]
    both = api_alice.get("/subscriptions/", state="active,cancelled").json()
    assert both["count"] == 2


def test_an_unknown_state_filter_is_a_400_on_state(api_alice):
    response = api_alice.get("/subscriptions/", state="sleeping")
    assert response.status_code == 400
    assert "state" in response.json()


def test_the_list_paginates(api_alice, acme, plan):
    for i in range(5):
        SubscriptionFactory(tenant=acme, plan=plan, name=f"Sub {i}")
    first = api_alice.get("/subscriptions/", page_size=2).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert "page=2" in first["next"]
    last = api_alice.get("/subscriptions/", page_size=2, page=3).json()
    assert last["count"] == 5
    assert len(last["results"]) == 1
    assert last["next"] is None
    assert "page=2" in last["previous"]
    assert api_alice.get("/subscriptions/", page_size=2, page=4).status_code == 404
    assert api_alice.get("/subscriptions/", page="x").status_code == 404
    seen = {
        r["id"]
        for p in (1, 2, 3)
        for r in api_alice.get("/subscriptions/", page_size=2, page=p).json()["results"]
    }
    assert len(seen) == 5


# --- subscribe ---------------------------------------------------------------------------------


def test_an_owner_subscribes_to_a_public_plan(api_alice, acme, plan):
    response = api_alice.post("/subscriptions/", {"plan": str(plan.pk), "name": "Dev"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Dev"
    assert body["state"] == "active"
    assert body["addons"] == []
    assert {q["dimension"]: q["limit"] for q in body["quota"]}["vms"] == 10
    subscription = Subscription.objects.get(pk=body["id"])
    assert subscription.tenant == acme
    assert AuditEvent.objects.filter(action="subscription.create", tenant=acme).exists()


def test_the_name_defaults_to_the_plans(api_alice, plan):
    assert api_alice.post("/subscriptions/", {"plan": str(plan.pk)}).json()["name"] == "Standard"


def test_a_code_plan_needs_its_code(api_alice):
    secret = PlanFactory(name="Secret", visibility=Visibility.CODE, invitation_code="OPEN-SESAME")
    wrong = api_alice.post("/subscriptions/", {"plan": str(secret.pk), "code": "guess"})
    assert wrong.status_code == 400
    assert "code" in wrong.json()
    right = api_alice.post("/subscriptions/", {"plan": str(secret.pk), "code": "OPEN-SESAME"})
    assert right.status_code == 201


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"plan": str(uuid.uuid4())},
        {"plan": "not-a-uuid"},
        {"plan": None},
        {"plan": 12},
    ],
)
def test_a_missing_or_unknown_plan_is_a_400_on_plan(api_alice, payload):
    response = api_alice.post("/subscriptions/", payload)
    assert response.status_code == 400
    assert list(response.json()) == ["plan"]
    assert not Subscription.objects.exists()


def test_a_private_plan_is_an_unknown_plan_to_a_tenant(api_alice):
    hidden = PlanFactory(name="Hidden", visibility=Visibility.PRIVATE)
    response = api_alice.post("/subscriptions/", {"plan": str(hidden.pk)})
    assert response.status_code == 400
    assert "plan" in response.json()
    assert_no_trace_of(response, "Hidden")


def test_a_retired_plan_is_a_400_on_plan(api_alice):
    old = PlanFactory(name="Old", state=Plan.State.RETIRED)
    response = api_alice.post("/subscriptions/", {"plan": str(old.pk)})
    assert response.status_code == 400
    assert "retired" in response.json()["plan"][0]


def test_the_per_tenant_limit_is_a_400_and_nothing_is_written(api_alice, acme_subscription, plan):
    before = AuditEvent.objects.count()
    response = api_alice.post("/subscriptions/", {"plan": str(plan.pk)})
    assert response.status_code == 400
    assert "plan" in response.json()
    assert Subscription.objects.count() == 1
    assert AuditEvent.objects.count() == before


def test_a_too_long_name_is_a_400_on_name(api_alice, plan):
    response = api_alice.post("/subscriptions/", {"plan": str(plan.pk), "name": "x" * 101})
    assert response.status_code == 400
    assert "name" in response.json()


@pytest.mark.parametrize("user", ["bob", "carol"])
def test_only_owners_subscribe(user, request, plan):
    api = Api(user=request.getfixturevalue(user))
    assert api.post("/subscriptions/", {"plan": str(plan.pk)}).status_code == 403
    assert not Subscription.objects.exists()


def test_invalid_json_is_a_400(api_alice, plan):
    response = api_alice.client.post("/api/v1/subscriptions/", "{not json", content_type="application/json")
    assert response.status_code == 400


# --- detail, quota, cancel ---------------------------------------------------------------------


def test_the_detail_shows_addons_and_quota(api_carol, acme_subscription):
    addon = AddOnFactory(name="Extra compute", plans=[acme_subscription.plan])
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon, quantity=3)
    body = api_carol.get(f"/subscriptions/{acme_subscription.pk}/").json()
    assert body["addons"] == [
        {
            "addon": {
                "id": str(addon.pk),
                "name": "Extra compute",
                "description": "",
                "limits": {
                    "vms": 5,
                    "vcpus": 10,
                    "ram_gib": 0,
                    "disk_gib": 0,
                    "networks": 0,
                    "public_ips": 0,
                },
            },
            "quantity": 3,
        }
    ]


def test_the_quota_endpoint_shows_used_limit_and_percent(api_carol, acme_subscription):
    _reserve(acme_subscription, vms=9, vcpus=1)
    rows = {r["dimension"]: r for r in api_carol.get(f"/subscriptions/{acme_subscription.pk}/quota/").json()}
    assert rows["vms"] == {
        "dimension": "vms",
        "label": "VMs",
        "used": 9,
        "limit": 10,
        "remaining": 1,
        "percent": 90,
        "level": "danger",
    }
    assert rows["vcpus"]["level"] == "success"


@pytest.mark.parametrize(
    "suffix", ["", "quota/", "addons/", "cancel/"], ids=["detail", "quota", "addons", "cancel"]
)
@pytest.mark.parametrize("by", ["session", "token"])
def test_another_tenants_subscription_is_404_with_none_of_its_data(
    suffix, by, charlie, globex, acme_subscription
):
    api = Api(user=charlie) if by == "session" else Api(token=make_token(charlie, globex))
    path = f"/subscriptions/{acme_subscription.pk}/{suffix}"
    response = api.post(path, {}) if suffix == "cancel/" else api.get(path)
    assert response.status_code == 404
    assert_no_trace_of(response, "Acme", acme_subscription.pk)
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == "active"


def test_an_owner_cancels_a_subscription(api_alice, acme_subscription):
    response = api_alice.post(f"/subscriptions/{acme_subscription.pk}/cancel/", {"reason": "Done"})
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    assert response.json()["state_reason"] == "Done"


def test_cancelling_twice_is_a_409(api_alice, acme_subscription):
    api_alice.post(f"/subscriptions/{acme_subscription.pk}/cancel/")
    response = api_alice.post(f"/subscriptions/{acme_subscription.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "cannot_cancel"


def test_cancelling_a_subscription_in_use_is_a_409(api_alice, acme_subscription):
    _reserve(acme_subscription, vms=1)
    response = api_alice.post(f"/subscriptions/{acme_subscription.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "subscription_in_use"
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == "active"


def test_an_operator_cannot_cancel(api_bob, acme_subscription):
    assert api_bob.post(f"/subscriptions/{acme_subscription.pk}/cancel/").status_code == 403
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == "active"


# --- add-ons -------------------------------------------------------------------------------------


@pytest.fixture
def addon(plan):
    return AddOnFactory(name="Extra compute", vms=5, vcpus=10, plans=[plan])


def test_an_owner_attaches_an_addon_and_the_limits_rise(api_alice, acme_subscription, addon):
    response = api_alice.post(
        f"/subscriptions/{acme_subscription.pk}/addons/", {"addon": str(addon.pk), "quantity": 2}
    )
    assert response.status_code == 201, response.content
    quota = {q["dimension"]: q["limit"] for q in response.json()["quota"]}
    assert quota["vms"] == 10 + 10
    again = api_alice.post(f"/subscriptions/{acme_subscription.pk}/addons/", {"addon": str(addon.pk)})
    assert again.json()["addons"][0]["quantity"] == 3
    listed = api_alice.get(f"/subscriptions/{acme_subscription.pk}/addons/").json()
    assert listed["results"][0]["quantity"] == 3


def test_an_addon_not_offered_with_the_plan_is_a_400_on_addon(api_alice, acme_subscription):
    other = AddOnFactory(name="Elsewhere")
    response = api_alice.post(f"/subscriptions/{acme_subscription.pk}/addons/", {"addon": str(other.pk)})
    assert response.status_code == 400
    assert "addon" in response.json()


@pytest.mark.parametrize("payload", [{}, {"addon": str(uuid.uuid4())}, {"addon": "x"}])
def test_an_unknown_addon_is_a_400_on_addon(api_alice, acme_subscription, payload):
    response = api_alice.post(f"/subscriptions/{acme_subscription.pk}/addons/", payload)
    assert response.status_code == 400
    assert "addon" in response.json()


def test_a_zero_quantity_is_a_400_on_quantity(api_alice, acme_subscription, addon):
    response = api_alice.post(
        f"/subscriptions/{acme_subscription.pk}/addons/", {"addon": str(addon.pk), "quantity": 0}
    )
    assert response.status_code == 400
    assert "quantity" in response.json()


def test_attaching_to_a_suspended_subscription_is_a_409(api_alice, acme_subscription, addon):
    Subscription.objects.filter(pk=acme_subscription.pk).update(state=Subscription.State.SUSPENDED)
    response = api_alice.post(f"/subscriptions/{acme_subscription.pk}/addons/", {"addon": str(addon.pk)})
    assert response.status_code == 409
    assert not SubscriptionAddOn.objects.exists()


def test_an_operator_cannot_attach(api_bob, acme_subscription, addon):
    response = api_bob.post(f"/subscriptions/{acme_subscription.pk}/addons/", {"addon": str(addon.pk)})
    assert response.status_code == 403


def test_an_owner_detaches_an_addon(api_alice, acme_subscription, addon):
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon, quantity=1)
    path = f"/subscriptions/{acme_subscription.pk}/addons/{addon.pk}/"
    assert api_alice.get(path).json()["quantity"] == 1
    assert api_alice.delete(path).status_code == 204
    assert not SubscriptionAddOn.objects.exists()
    assert api_alice.delete(path).status_code == 404


def test_detaching_what_is_in_use_is_a_409(api_alice, acme_subscription, addon):
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon, quantity=1)
    _reserve(acme_subscription, vms=12)
    response = api_alice.delete(f"/subscriptions/{acme_subscription.pk}/addons/{addon.pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "addon_in_use"
    assert SubscriptionAddOn.objects.exists()


def test_an_operator_cannot_detach(api_bob, acme_subscription, addon):
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon, quantity=1)
    assert api_bob.delete(f"/subscriptions/{acme_subscription.pk}/addons/{addon.pk}/").status_code == 403
    assert SubscriptionAddOn.objects.exists()


def test_another_tenants_addon_link_is_404(api_charlie, acme_subscription, addon):
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon, quantity=1)
    path = f"/subscriptions/{acme_subscription.pk}/addons/{addon.pk}/"
    for response in (api_charlie.get(path), api_charlie.delete(path)):
        assert response.status_code == 404
        assert_no_trace_of(response, "Acme", acme_subscription.pk)
    assert SubscriptionAddOn.objects.exists()


def test_the_fast_list_rendering_matches_drfs_field_by_field(acme, plan, acme_subscription, alice):
    """The list renders ``subscription_rows`` dicts by hand and SubscriptionSerializer renders
    instances by hand, both for speed; DRF's declared fields must still describe exactly what
    each produces."""
    from subscriptions.api.serializers import SubscriptionSerializer, subscription_list_data
    from subscriptions.selectors import quota_usage_many, subscription_list, subscription_rows_page
    from subscriptions.services import subscription_addon_add, subscription_suspend

    subscription_addon_add(
        subscription=acme_subscription, addon=AddOnFactory(plans=[plan], vms=2), actor=alice, quantity=3
    )
    subscription_suspend(subscription=acme_subscription, reason="Unpaid", actor=alice)
    _reserve(SubscriptionFactory(tenant=acme, plan=PlanFactory(name="Other"), name="Ünïcode ☁"), vms=3)
    SubscriptionFactory(tenant=acme, plan=plan, name="Nothing used")
    subscriptions = list(subscription_list(tenant=acme).order_by("-created", "pk"))
    serializer = SubscriptionSerializer(context={"usage": quota_usage_many(subscriptions)})
    expected = [serializer.generic_representation(s) for s in subscriptions]
    assert [serializer.to_representation(s) for s in subscriptions] == expected
    rows, _ = subscription_rows_page(tenant=acme, offset=0, size=10)
    assert subscription_list_data(rows) == expected
    assert expected[-1]["state_changed"] is not None  # a suspended one, with its time
