"""/api/v1/members/ and /api/v1/invitations/."""

from __future__ import annotations

import pytest
from django.core import mail

from tenants.models import ApiToken, Invitation, Membership, Role
from tenants.services import invitation_create
from tests.api.conftest import Api, assert_no_trace_of, make_token

pytestmark = pytest.mark.django_db


def _membership(user):
    return Membership.objects.get(user=user)


# --- members ------------------------------------------------------------------------------------


def test_members_lists_the_team(api_carol, alice, bob, carol, charlie):
    response = api_carol.get("/members/")
    assert [(m["user"]["email"], m["role"]) for m in response.json()["results"]] == [
        ("alice@example.com", "owner"),
        ("bob@example.com", "operator"),
        ("carol@example.com", "reader"),
    ]
    assert_no_trace_of(response, "charlie@example.com")


def test_members_searches(api_alice, bob, carol):
    assert [m["user"]["email"] for m in api_alice.get("/members/", q="carol").json()["results"]] == [
        "carol@example.com"
    ]


def test_an_owner_changes_a_role(api_alice, bob):
    make_token(bob, bob.tenants.get(), Role.OPERATOR)
    response = api_alice.patch(f"/members/{_membership(bob).pk}/", {"role": "reader"})
    assert response.status_code == 200
    assert response.json()["role"] == "reader"
    assert _membership(bob).role == Role.READER
    # The token list stays honest: bob's operator token is a reader's now.
    assert ApiToken.objects.get(user=bob).role == Role.READER


@pytest.mark.parametrize("payload", [{}, {"role": "king"}, {"role": None}])
def test_a_bad_role_is_a_400_on_role(api_alice, bob, payload):
    response = api_alice.patch(f"/members/{_membership(bob).pk}/", payload)
    assert response.status_code == 400
    assert "role" in response.json()
    assert _membership(bob).role == Role.OPERATOR


def test_demoting_the_last_owner_is_a_409(api_alice, alice):
    response = api_alice.patch(f"/members/{_membership(alice).pk}/", {"role": "reader"})
    assert response.status_code == 409
    assert response.json()["code"] == "last_owner"
    assert _membership(alice).role == Role.OWNER


def test_an_operator_cannot_change_roles(api_bob, carol):
    assert api_bob.patch(f"/members/{_membership(carol).pk}/", {"role": "owner"}).status_code == 403
    assert _membership(carol).role == Role.READER


def test_an_owner_removes_a_member_and_their_tokens_stop_working(api_alice, bob, acme):
    raw = make_token(bob, acme, Role.OPERATOR)
    assert api_alice.delete(f"/members/{_membership(bob).pk}/").status_code == 204
    assert not Membership.objects.filter(user=bob).exists()
    assert Api(token=raw).get("/me/").status_code == 401


def test_a_reader_may_leave_but_not_remove_others(api_carol, bob, carol):
    assert api_carol.delete(f"/members/{_membership(bob).pk}/").status_code == 403
    assert api_carol.delete(f"/members/{_membership(carol).pk}/").status_code == 204
    assert not Membership.objects.filter(user=carol).exists()


def test_the_last_owner_cannot_leave(api_alice, alice):
    response = api_alice.delete(f"/members/{_membership(alice).pk}/")
    assert response.status_code == 409
    assert Membership.objects.filter(user=alice).exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_tenants_member_is_404_with_none_of_their_data(method, api_charlie, bob):
    path = f"/members/{_membership(bob).pk}/"
    response = (
        api_charlie.patch(path, {"role": "owner"})
        if method == "patch"
        else getattr(api_charlie, method)(path)
    )
    assert response.status_code == 404
    assert_no_trace_of(response, "bob@example.com", "Bob", "Acme")
    assert _membership(bob).role == Role.OPERATOR


# --- invitations ----------------------------------------------------------------------------------


def test_an_owner_invites_and_gets_the_link_once(api_alice, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_alice.post("/invitations/", {"email": "Dana@Example.com", "role": "operator"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "dana@example.com"
    assert body["status"] == "pending"
    assert "/invitations/" in body["accept_url"]
    assert "no-store" in response["Cache-Control"]
    assert body["accept_url"] in mail.outbox[0].body
    listed = api_alice.get("/invitations/")
    assert [i["email"] for i in listed.json()["results"]] == ["dana@example.com"]
    assert "accept_url" not in listed.json()["results"][0]
    assert body["accept_url"].rsplit("/", 2)[-2] not in listed.content.decode()
    detail = api_alice.get(f"/invitations/{body['id']}/").json()
    assert "accept_url" not in detail


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "d@example.com", "role": "boss"}, "role"),
    ],
)
def test_bad_invitations_are_400_on_the_field(api_alice, payload, field):
    response = api_alice.post("/invitations/", payload)
    assert response.status_code == 400
    assert field in response.json()
    assert not Invitation.objects.exists()


def test_inviting_a_member_is_a_400_on_email(api_alice, bob):
    response = api_alice.post("/invitations/", {"email": "bob@example.com"})
    assert response.status_code == 400
    assert "already a member" in response.json()["email"][0]


def test_an_operator_cannot_invite(api_bob):
    assert api_bob.post("/invitations/", {"email": "dana@example.com"}).status_code == 403
    assert not Invitation.objects.exists()


def test_an_owner_revokes_an_invitation_once(api_alice, alice, acme):
    invitation, _ = invitation_create(tenant=acme, email="dana@example.com", role=Role.READER, actor=alice)
    response = api_alice.post(f"/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    again = api_alice.post(f"/invitations/{invitation.pk}/revoke/")
    assert again.status_code == 409


def test_an_operator_cannot_revoke_an_invitation(api_bob, alice, acme):
    invitation, _ = invitation_create(tenant=acme, email="dana@example.com", role=Role.READER, actor=alice)
    assert api_bob.post(f"/invitations/{invitation.pk}/revoke/").status_code == 403
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


@pytest.mark.parametrize("suffix", ["", "revoke/"])
def test_another_tenants_invitation_is_404(suffix, api_charlie, alice, acme):
    invitation, _ = invitation_create(tenant=acme, email="dana@example.com", role=Role.READER, actor=alice)
    path = f"/invitations/{invitation.pk}/{suffix}"
    response = api_charlie.post(path) if suffix else api_charlie.get(path)
    assert response.status_code == 404
    assert_no_trace_of(response, "dana@example.com", "Acme")
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_the_invitation_list_shows_nothing_of_another_tenant(api_charlie, alice, acme):
    invitation_create(tenant=acme, email="dana@example.com", role=Role.READER, actor=alice)
    response = api_charlie.get("/invitations/")
    assert response.json()["count"] == 0
    assert_no_trace_of(response, "dana@example.com")
