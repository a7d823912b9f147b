"""/api/v1/admin/…: service admins only, by session; tenant users and every token get 403."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from django.urls import reverse

from portal.models import AuditEvent
from subscriptions.models import AddOn, Plan, Subscription, Visibility
from subscriptions.quota import Demand
from subscriptions.services import quota_reserve
from tenants.models import Tenant, User
from tests.api.conftest import Api, make_token
from tests.factories import AddOnFactory, PlanFactory
from tests.ownership.routes import all_routes, fill

pytestmark = pytest.mark.django_db

ADMIN_ROUTES = sorted(
    (name, route) for name, route in all_routes().items() if route.pattern.startswith("api/v1/admin/")
)


@pytest.mark.parametrize(("name", "route"), ADMIN_ROUTES, ids=[n for n, _ in ADMIN_ROUTES])
def test_admin_routes_refuse_tenant_sessions_tokens_and_anonymous_visitors(name, route, alice, acme, admin):
    path = fill(route.pattern, {param: str(acme.pk) for param in route.params})
    tenant_session, token, anonymous = Api(user=alice), Api(token=make_token(alice, acme)), Api()
    for method in route.methods():
        send = getattr(tenant_session, method)
        assert send(path).status_code == 403, f"{method} {path} as a tenant user"
        assert getattr(token, method)(path).status_code == 403, f"{method} {path} with a token"
        assert getattr(anonymous, method)(path).status_code == 401, f"{method} {path} anonymously"
    assert not Tenant.objects.exclude(pk=acme.pk).exists()
    assert Tenant.objects.get(pk=acme.pk).state == "active"


def test_every_admin_route_is_under_the_api_namespace():
    assert reverse("api:admin-tenant-list") == "/api/v1/admin/tenants/"
    assert len(ADMIN_ROUTES) == 38


# --- tenants -------------------------------------------------------------------------------------


def test_admins_list_tenants_with_counts_and_filters(api_admin, alice, bob, acme, globex, acme_subscription):
    Tenant.objects.filter(pk=globex.pk).update(state=Tenant.State.DISABLED)
    rows = api_admin.get("/admin/tenants/").json()["results"]
    assert [(t["name"], t["member_count"], t["subscription_count"]) for t in rows] == [
        ("Acme", 2, 1),
        ("Globex", 0, 0),
    ]
    assert [t["name"] for t in api_admin.get("/admin/tenants/", state="disabled").json()["results"]] == [
        "Globex"
    ]
    assert [t["name"] for t in api_admin.get("/admin/tenants/", q="acm").json()["results"]] == ["Acme"]
    assert api_admin.get("/admin/tenants/", state="sleeping").status_code == 400


def test_admins_create_a_tenant_for_an_existing_user(api_admin, carol):
    response = api_admin.post("/admin/tenants/", {"name": "Initech", "owner_email": "carol@example.com"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "initech"
    assert [(m["user"]["email"], m["role"]) for m in body["members"]] == [("carol@example.com", "owner")]


def test_admins_create_a_tenant_and_its_new_owner(api_admin):
    response = api_admin.post("/admin/tenants/", {"name": "Initech", "owner_email": "peter@initech.example"})
    assert response.status_code == 201
    owner = User.objects.get(email="peter@initech.example")
    assert not owner.has_usable_password()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"owner_email": "x@example.com"}, "name"),
        ({"name": "Initech"}, "owner_email"),
        ({"name": "Initech", "owner_email": "nope"}, "owner_email"),
        ({"name": "Initech", "owner_email": "admin@example.com"}, "owner_email"),
    ],
)
def test_bad_tenants_are_400_on_the_field_and_nothing_is_written(api_admin, payload, field):
    response = api_admin.post("/admin/tenants/", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Tenant.objects.filter(name="Initech").exists()
    assert not User.objects.filter(email="x@example.com").exists()


def test_admins_disable_and_enable_a_tenant(api_admin, alice, acme):
    raw = make_token(alice, acme)
    response = api_admin.post(f"/admin/tenants/{acme.pk}/disable/")
    assert response.status_code == 200
    assert response.json()["state"] == "disabled"
    assert Api(token=raw).get("/me/").status_code == 401
    assert api_admin.post(f"/admin/tenants/{acme.pk}/disable/").status_code == 409
    assert api_admin.post(f"/admin/tenants/{acme.pk}/enable/").json()["state"] == "active"
    assert Api(token=raw).get("/me/").status_code == 200


def test_an_unknown_tenant_is_404(api_admin):
    assert api_admin.get(f"/admin/tenants/{uuid.uuid4()}/").status_code == 404
    assert api_admin.post(f"/admin/tenants/{uuid.uuid4()}/disable/").status_code == 404


# --- users ---------------------------------------------------------------------------------------


def test_admins_list_users_with_filters(api_admin, alice, bob, admin):
    User.objects.filter(pk=bob.pk).update(is_active=False)
    emails = lambda **p: [u["email"] for u in api_admin.get("/admin/users/", **p).json()["results"]]  # noqa: E731
    assert emails() == ["admin@example.com", "alice@example.com", "bob@example.com"]
    assert emails(kind="admin") == ["admin@example.com"]
    assert emails(kind="tenant", active="true") == ["alice@example.com"]
    assert emails(active="false") == ["bob@example.com"]
    assert emails(q="ali") == ["alice@example.com"]
    assert api_admin.get("/admin/users/", kind="robot").status_code == 400


def test_admins_create_a_user_invited_to_a_tenant(
    api_admin, acme, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_admin.post(
            "/admin/users/",
            {"email": "Dana@Example.com", "full_name": "Dana", "tenant": str(acme.pk), "role": "operator"},
        )
    assert response.status_code == 201, response.content
    assert response.json()["email"] == "dana@example.com"
    assert {m.to[0] for m in mailoutbox} == {"dana@example.com"}
    assert len(mailoutbox) == 2  # the set-password link and the invitation


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": "alice@example.com"}, "email"),
        ({"email": "new@example.com", "tenant": str(uuid.uuid4())}, "tenant"),
        ({"email": "new@example.com", "is_service_admin": True, "tenant": "TENANT"}, "tenant"),
    ],
)
def test_bad_users_are_400_on_the_field(api_admin, alice, acme, payload, field):
    payload = {k: (str(acme.pk) if v == "TENANT" else v) for k, v in payload.items()}
    response = api_admin.post("/admin/users/", payload)
    assert response.status_code == 400
    assert field in response.json()
    assert not User.objects.filter(email="new@example.com").exists()


def test_admins_deactivate_a_user_whose_tokens_then_fail(api_admin, alice, acme):
    raw = make_token(alice, acme)
    response = api_admin.post(f"/admin/users/{alice.pk}/deactivate/")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert Api(token=raw).get("/me/").status_code == 401
    assert api_admin.post(f"/admin/users/{alice.pk}/activate/").json()["is_active"] is True


def test_an_admin_cannot_deactivate_themselves(api_admin, admin):
    assert api_admin.post(f"/admin/users/{admin.pk}/deactivate/").status_code == 409
    admin.refresh_from_db()
    assert admin.is_active


def test_a_user_detail_lists_memberships(api_admin, alice):
    body = api_admin.get(f"/admin/users/{alice.pk}/").json()
    assert [(m["tenant"]["name"], m["role"]) for m in body["memberships"]] == [("Acme", "owner")]


@pytest.mark.parametrize("pk", ["999999", "abc", str(uuid.uuid4())])
def test_an_unknown_user_is_404(api_admin, pk):
    assert api_admin.get(f"/admin/users/{pk}/").status_code == 404


# --- plans and add-ons ---------------------------------------------------------------------------


def test_admins_create_a_plan_with_limits_and_addons(api_admin):
    addon = AddOnFactory(name="Extra")
    response = api_admin.post(
        "/admin/plans/",
        {
            "name": "Gold",
            "visibility": "code",
            "invitation_code": "GOLD-2026",
            "limits": {"vms": 50, "vcpus": 100},
            "addons": [str(addon.pk)],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["limits"]["vms"] == 50
    assert body["limits"]["ram_gib"] == 0
    assert body["invitation_code"] == "GOLD-2026"
    assert [a["name"] for a in body["addons"]] == ["Extra"]
    assert AuditEvent.objects.filter(action="plan.create").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": "Standard"}, "name"),
        ({"name": "Gold", "visibility": "code"}, "invitation_code"),
        ({"name": "Gold", "limits": {"vms": -1}}, "limits"),
        ({"name": "Gold", "addons": [str(uuid.uuid4())]}, "addons"),
        ({"name": "Gold", "visibility": "everyone"}, "visibility"),
    ],
)
def test_bad_plans_are_400_on_the_field(api_admin, plan, payload, field):
    response = api_admin.post("/admin/plans/", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Plan.objects.filter(name="Gold").exists()


def test_admins_update_part_of_a_plan(api_admin, plan):
    response = api_admin.patch(f"/admin/plans/{plan.pk}/", {"limits": {"vms": 3}, "state": "retired"})
    assert response.status_code == 200, response.content
    plan.refresh_from_db()
    assert (plan.vms, plan.vcpus, plan.state, plan.name) == (3, 20, "retired", "Standard")
    assert api_admin.get(f"/admin/plans/{plan.pk}/").json()["limits"]["vms"] == 3


def test_admins_list_plans_with_filters(api_admin, plan, acme_subscription):
    PlanFactory(name="Hidden", visibility=Visibility.PRIVATE)
    rows = api_admin.get("/admin/plans/").json()["results"]
    assert [(p["name"], p["subscription_count"]) for p in rows] == [("Hidden", 0), ("Standard", 1)]
    assert [p["name"] for p in api_admin.get("/admin/plans/", visibility="private").json()["results"]] == [
        "Hidden"
    ]


def test_admins_create_and_update_addons(api_admin, plan):
    response = api_admin.post(
        "/admin/addons/", {"name": "Extra", "limits": {"vms": 5}, "plans": [str(plan.pk)]}
    )
    assert response.status_code == 201, response.content
    addon_id = response.json()["id"]
    assert [p["name"] for p in response.json()["plans"]] == ["Standard"]
    updated = api_admin.patch(f"/admin/addons/{addon_id}/", {"state": "retired", "plans": []})
    assert updated.status_code == 200
    assert updated.json()["plans"] == []
    assert AddOn.objects.get().state == "retired"
    assert api_admin.get("/admin/addons/", state="retired").json()["count"] == 1
    assert api_admin.post("/admin/addons/", {"name": "Extra"}).status_code == 400


# --- subscriptions ---------------------------------------------------------------------------------


def test_admins_list_every_tenants_subscriptions_with_filters(
    api_admin, acme, acme_subscription, globex_subscription
):
    rows = api_admin.get("/admin/subscriptions/").json()["results"]
    assert {r["tenant"]["name"] for r in rows} == {"Acme", "Globex"}
    assert all(len(r["quota"]) == 6 for r in rows)
    only_acme = api_admin.get("/admin/subscriptions/", tenant=str(acme.pk)).json()["results"]
    assert [r["name"] for r in only_acme] == ["Acme production"]
    assert api_admin.get("/admin/subscriptions/", tenant="nope").status_code == 400
    assert api_admin.get("/admin/subscriptions/", state="cancelled").json()["count"] == 0


def test_admins_assign_a_private_plan(api_admin, globex):
    hidden = PlanFactory(name="Hidden", visibility=Visibility.PRIVATE)
    response = api_admin.post("/admin/subscriptions/", {"tenant": str(globex.pk), "plan": str(hidden.pk)})
    assert response.status_code == 201, response.content
    assert response.json()["tenant"]["name"] == "Globex"
    assert Subscription.objects.get().tenant == globex


@pytest.mark.parametrize("missing", ["tenant", "plan"])
def test_an_unknown_tenant_or_plan_is_a_400_on_that_field(api_admin, globex, plan, missing):
    payload = {"tenant": str(globex.pk), "plan": str(plan.pk), missing: str(uuid.uuid4())}
    response = api_admin.post("/admin/subscriptions/", payload)
    assert response.status_code == 400
    assert list(response.json()) == [missing]


def test_admins_suspend_reactivate_and_cancel(api_admin, acme_subscription):
    base = f"/admin/subscriptions/{acme_subscription.pk}"
    suspended = api_admin.post(f"{base}/suspend/", {"reason": "Unpaid invoice"})
    assert suspended.status_code == 200
    assert suspended.json()["state"] == "suspended"
    assert suspended.json()["state_reason"] == "Unpaid invoice"
    again = api_admin.post(f"{base}/suspend/")
    assert again.status_code == 409
    assert again.json()["code"] == "cannot_suspend"
    assert api_admin.post(f"{base}/reactivate/").json()["state"] == "active"
    assert api_admin.post(f"{base}/cancel/").json()["state"] == "cancelled"
    assert api_admin.post(f"{base}/reactivate/").status_code == 409
    assert api_admin.get(f"{base}/").json()["state"] == "cancelled"


def test_cancelling_a_subscription_in_use_is_a_409(api_admin, acme_subscription):
    with transaction.atomic():
        quota_reserve(subscription=acme_subscription, demand=Demand(vms=1), resource_type="test")
    assert api_admin.post(f"/admin/subscriptions/{acme_subscription.pk}/cancel/").status_code == 409


def test_a_too_long_reason_is_a_400(api_admin, acme_subscription):
    response = api_admin.post(f"/admin/subscriptions/{acme_subscription.pk}/suspend/", {"reason": "x" * 201})
    assert response.status_code == 400
    assert "reason" in response.json()
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == "active"


# --- activity -------------------------------------------------------------------------------------


def test_admins_see_every_tenants_activity(api_admin, api_alice, api_charlie, acme):
    api_alice.patch("/tenant/", {"name": "Acme One"})
    api_charlie.patch("/tenant/", {"name": "Globex One"})
    rows = api_admin.get("/admin/activity/", action="tenant").json()["results"]
    assert [(r["tenant"]["name"], r["target"]) for r in rows] == [
        ("Globex One", "Globex One"),
        ("Acme One", "Acme One"),
    ]
    assert "ip_address" in rows[0]
    assert api_admin.get("/admin/activity/", tenant=str(acme.pk)).json()["count"] == 1
