"""/api/v1/me/, /api/v1/tenant/ and /api/v1/activity/."""

from __future__ import annotations

import pytest

from portal.models import AuditEvent
from tenants.models import Membership, Role, Tenant
from tenants.services import tenant_rename
from tests.api.conftest import assert_no_trace_of

pytestmark = pytest.mark.django_db


def test_me_shows_the_user_the_current_tenant_the_role_and_memberships(api_bob, bob, acme, globex):
    Membership.objects.create(tenant=globex, user=bob, role=Role.READER)
    body = api_bob.get("/me/").json()
    assert body["user"] == {
        "id": str(bob.pk),
        "email": "bob@example.com",
        "full_name": "Bob Operator",
        "is_service_admin": False,
    }
    assert body["tenant"]["name"] == "Acme"
    assert body["role"] == "operator"
    assert [(m["tenant"]["name"], m["role"]) for m in body["memberships"]] == [
        ("Acme", "operator"),
        ("Globex", "reader"),
    ]
    assert body["token"] is None


def test_me_with_a_token_names_the_token(api_alice_token):
    body = api_alice_token.get("/me/").json()
    assert body["token"]["role"] == "owner"
    assert "key" not in body["token"]


def test_the_tenant_is_the_current_one(api_carol, acme):
    body = api_carol.get("/tenant/").json()
    assert body["id"] == str(acme.pk)
    assert body["state"] == "active"


def test_an_owner_renames_the_tenant(api_alice, acme):
    response = api_alice.patch("/tenant/", {"name": "Acme Rockets"})
    assert response.status_code == 200
    assert response.json()["name"] == "Acme Rockets"
    assert Tenant.objects.get(pk=acme.pk).name == "Acme Rockets"
    assert AuditEvent.objects.filter(action="tenant.rename", tenant=acme).exists()


@pytest.mark.parametrize("payload", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}])
def test_a_bad_name_is_a_400_on_name(api_alice, acme, payload):
    response = api_alice.patch("/tenant/", payload)
    assert response.status_code == 400
    assert "name" in response.json()
    assert Tenant.objects.get(pk=acme.pk).name == "Acme"


@pytest.mark.parametrize("user", ["bob", "carol"])
def test_only_owners_rename(user, request, acme):
    from tests.api.conftest import Api

    assert Api(user=request.getfixturevalue(user)).patch("/tenant/", {"name": "Mine"}).status_code == 403
    assert Tenant.objects.get(pk=acme.pk).name == "Acme"


def test_the_activity_is_the_tenants_own_newest_first(api_carol, alice, charlie, acme, globex):
    tenant_rename(tenant=acme, name="Acme One", actor=alice)
    tenant_rename(tenant=acme, name="Acme Two", actor=alice)
    tenant_rename(tenant=globex, name="Globex Hidden Rename", actor=charlie)
    response = api_carol.get("/activity/")
    body = response.json()
    assert [e["target"] for e in body["results"]] == ["Acme Two", "Acme One"]
    assert body["results"][0]["actor"] == "alice@example.com"
    assert "ip_address" not in body["results"][0]
    assert_no_trace_of(response, "Globex", "charlie@example.com")


def test_the_activity_filters_by_action(api_alice, alice, acme, plan):
    tenant_rename(tenant=acme, name="Acme One", actor=alice)
    api_alice.post("/subscriptions/", {"plan": str(plan.pk)})
    actions = [
        e["action"] for e in api_alice.get("/activity/", action="subscription.create").json()["results"]
    ]
    assert actions == ["subscription.create"]
