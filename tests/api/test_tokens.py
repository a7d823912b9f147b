"""/api/v1/tokens/: created once with the secret, listed without it, revoked."""

from __future__ import annotations

import pytest

from tenants.models import ApiToken, Role, hash_secret
from tests.api.conftest import Api, assert_no_trace_of, make_token

pytestmark = pytest.mark.django_db


def test_an_operator_creates_a_token_and_sees_the_secret_once(api_bob, bob):
    response = api_bob.post("/tokens/", {"name": "CI", "role": "operator", "expires_in_days": 7})
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["token"]
    assert secret.startswith("cst_") and secret.startswith(body["prefix"])
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert token.key_hash == hash_secret(secret)
    assert token.user == bob
    listed = api_bob.get("/tokens/")
    row = listed.json()["results"][0]
    assert {k: row[k] for k in ("name", "prefix", "role", "status", "last_used_at")} == {
        "name": "CI",
        "prefix": body["prefix"],
        "role": "operator",
        "status": "active",
        "last_used_at": None,
    }
    assert row["expires_at"]
    assert secret not in listed.content.decode()
    assert secret not in api_bob.get(f"/tokens/{token.pk}/").content.decode()
    # The new token works, and its use shows up in the list.
    assert Api(token=secret).get("/me/").status_code == 200
    assert api_bob.get("/tokens/").json()["results"][0]["last_used_at"] is not None


def test_a_token_cannot_outrank_its_creator(api_bob):
    response = api_bob.post("/tokens/", {"name": "Sneaky", "role": "owner"})
    assert response.status_code == 400
    assert "role" in response.json()
    assert not ApiToken.objects.exists()


def test_a_token_created_with_a_token_is_capped_by_that_tokens_role(alice, acme):
    api = Api(token=make_token(alice, acme, Role.OPERATOR))
    assert api.post("/tokens/", {"name": "Up", "role": "owner"}).status_code == 400
    assert api.post("/tokens/", {"name": "Same", "role": "operator"}).status_code == 201


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"role": "reader"}, "name"),
        ({"name": "", "role": "reader"}, "name"),
        ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 100000}, "expires_in_days"),
        ({"name": "x", "expires_in_days": "soon"}, "expires_in_days"),
        ({"name": "x", "role": "god"}, "role"),
    ],
)
def test_bad_token_input_is_a_400_on_the_field(api_alice, payload, field):
    response = api_alice.post("/tokens/", payload)
    assert response.status_code == 400
    assert field in response.json()
    assert not ApiToken.objects.exists()


def test_a_reader_cannot_create_tokens(api_carol):
    assert api_carol.post("/tokens/", {"name": "Mine", "role": "reader"}).status_code == 403


def test_owners_see_every_token_others_only_their_own(api_alice, api_bob, alice, bob, acme):
    make_token(alice, acme, Role.OWNER)
    make_token(bob, acme, Role.OPERATOR)
    assert api_alice.get("/tokens/").json()["count"] == 2
    bobs = api_bob.get("/tokens/")
    assert [t["user"]["email"] for t in bobs.json()["results"]] == ["bob@example.com"]
    assert_no_trace_of(bobs, "alice@example.com")


def test_anyone_revokes_their_own_token_and_it_stops_working(api_bob, bob, acme):
    raw = make_token(bob, acme, Role.OPERATOR)
    token = ApiToken.objects.get()
    response = api_bob.post(f"/tokens/{token.pk}/revoke/")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert Api(token=raw).get("/me/").status_code == 401
    assert api_bob.post(f"/tokens/{token.pk}/revoke/").status_code == 409


def test_only_owners_revoke_someone_elses_token(api_alice, api_bob, alice, acme):
    make_token(alice, acme, Role.OWNER)
    token = ApiToken.objects.get()
    assert api_bob.get(f"/tokens/{token.pk}/").status_code == 403
    assert api_bob.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    assert ApiToken.objects.get().revoked_at is None
    assert api_alice.post(f"/tokens/{token.pk}/revoke/").status_code == 200


@pytest.mark.parametrize("suffix", ["", "revoke/"])
def test_another_tenants_token_is_404(suffix, api_charlie, alice, acme):
    make_token(alice, acme, Role.OWNER)
    token = ApiToken.objects.get()
    path = f"/tokens/{token.pk}/{suffix}"
    response = api_charlie.post(path) if suffix else api_charlie.get(path)
    assert response.status_code == 404
    assert_no_trace_of(response, token.prefix, "alice@example.com")
    assert ApiToken.objects.get().revoked_at is None
