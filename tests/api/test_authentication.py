"""Bearer tokens and sessions on the API: who gets in, as whom, with which role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.models import ApiToken, Membership, Role, Tenant, User
from tenants.services import LAST_USED_RESOLUTION
from tests.api.conftest import Api, make_token

pytestmark = pytest.mark.django_db


def test_an_anonymous_request_is_401_with_a_bearer_challenge(api_anonymous):
    response = api_anonymous.get("/subscriptions/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer cst_not-a-real-token",
        "Bearer garbage",
        "Bearer " + "x" * 500,
        "Bearer",
        "Bearer two parts",
    ],
)
def test_an_unknown_or_malformed_token_is_401(header, client, alice):
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "alice" not in response.content.decode()


def test_an_expired_token_is_401(alice, acme):
    raw = make_token(alice, acme)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Api(token=raw).get("/me/").status_code == 401


def test_a_revoked_token_is_401(alice, acme):
    raw = make_token(alice, acme)
    ApiToken.objects.update(revoked_at=timezone.now())
    assert Api(token=raw).get("/me/").status_code == 401


def test_a_token_of_a_deactivated_user_is_401(alice, acme):
    raw = make_token(alice, acme)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert Api(token=raw).get("/me/").status_code == 401


def test_a_token_of_a_disabled_tenant_is_401(alice, acme):
    raw = make_token(alice, acme)
    Tenant.objects.filter(pk=acme.pk).update(state=Tenant.State.DISABLED)
    assert Api(token=raw).get("/me/").status_code == 401


def test_a_token_of_someone_who_left_the_tenant_is_401(bob, acme):
    raw = make_token(bob, acme, Role.OPERATOR)
    Membership.objects.filter(user=bob).delete()
    assert Api(token=raw).get("/me/").status_code == 401


def test_a_token_bypasses_csrf_and_a_session_is_not_needed(alice_token, plan):
    api = Api(token=alice_token)
    api.client = type(api.client)(enforce_csrf_checks=True)
    response = api.patch("/tenant/", {"name": "Acme Renamed"})
    assert response.status_code == 200


def test_a_session_write_needs_the_csrf_token(alice):
    api = Api(user=alice)
    api.client = type(api.client)(enforce_csrf_checks=True)
    api.client.force_login(alice)
    response = api.patch("/tenant/", {"name": "Acme Renamed"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_the_token_records_when_it_was_last_used(alice, acme):
    raw = make_token(alice, acme)
    token = ApiToken.objects.get()
    assert token.last_used_at is None
    Api(token=raw).get("/me/")
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < timedelta(seconds=5)


def test_last_used_is_written_at_most_once_a_minute(alice, acme):
    raw = make_token(alice, acme)
    api = Api(token=raw)
    api.get("/me/")
    first = ApiToken.objects.get().last_used_at
    api.get("/me/")
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - LAST_USED_RESOLUTION - timedelta(seconds=1))
    api.get("/me/")
    assert ApiToken.objects.get().last_used_at > first


def test_the_token_acts_in_its_own_tenant_whatever_the_session_says(alice, acme, globex):
    Membership.objects.create(tenant=globex, user=alice, role=Role.READER)
    raw = make_token(alice, globex, Role.READER)
    body = Api(token=raw).get("/me/").json()
    assert body["tenant"]["name"] == "Globex"
    assert [m["tenant"]["name"] for m in body["memberships"]] == ["Globex"]
    assert body["token"]["role"] == "reader"


def test_a_token_role_is_capped_by_the_users_current_role(alice, bob, acme):
    # Alice makes an owner token for herself, then is demoted: the token is a reader's now.
    raw = make_token(alice, acme, Role.OWNER)
    Membership.objects.filter(user=bob).update(role=Role.OWNER)  # someone else stays owner
    Membership.objects.filter(user=alice).update(role=Role.READER)
    api = Api(token=raw)
    assert api.get("/me/").json()["role"] == "reader"
    assert api.patch("/tenant/", {"name": "Not allowed"}).status_code == 403
    assert Tenant.objects.get(pk=acme.pk).name == "Acme"


def test_a_read_only_token_cannot_write_even_what_a_reader_may_do_in_the_browser(alice, acme):
    raw = make_token(alice, acme, Role.READER)
    api = Api(token=raw)
    token = ApiToken.objects.get()
    member = Membership.objects.get(user=alice)
    assert api.get("/subscriptions/").status_code == 200
    assert api.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    assert api.delete(f"/members/{member.pk}/").status_code == 403
    assert api.post("/tokens/", {"name": "more", "role": "reader"}).status_code == 403
    assert ApiToken.objects.get().revoked_at is None
    assert Membership.objects.filter(user=alice).exists()


def test_a_service_admin_session_has_no_tenant(api_admin):
    response = api_admin.get("/subscriptions/")
    assert response.status_code == 403
    me = api_admin.get("/me/").json()
    assert me["tenant"] is None
    assert me["user"]["is_service_admin"] is True
