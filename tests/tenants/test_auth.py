"""Sign-in, lock-out, sign-out, passwords and self sign-up."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from portal.models import AuditEvent
from tenants.models import Membership, Role, Tenant, User

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _signup_data(**overrides) -> dict:
    data = {
        "full_name": "Dana New",
        "email": "dana@example.com",
        "tenant_name": "Dana Labs",
        "password1": "a-long-unusual-passphrase",
        "password2": "a-long-unusual-passphrase",
    }
    data.update(overrides)
    return data


# --- sessions for anonymous visitors ----------------------------------------------------------


def test_the_login_page_creates_no_session_for_an_anonymous_visitor(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies


def test_a_failed_login_creates_no_session(client, alice):
    response = client.post(LOGIN, {"username": alice.email, "password": "wrong"})
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies


@pytest.mark.parametrize("path", ["/accounts/signup/", "/accounts/password/reset/", "/"])
def test_public_pages_create_no_session(client, path):
    response = client.get(path)
    assert settings.SESSION_COOKIE_NAME not in response.cookies


# --- login ------------------------------------------------------------------------------------


def test_the_login_page_asks_for_an_email_and_links_to_reset_and_signup(client):
    body = client.get(LOGIN).content.decode()
    assert 'name="username"' in body
    assert ">E-mail" in body
    assert reverse("password_reset") in body
    assert reverse("signup") in body


def test_the_login_page_hides_signup_when_it_is_closed(client, settings):
    settings.SIGNUP_ENABLED = False
    body = client.get(LOGIN).content.decode()
    assert reverse("signup") not in body


def test_alice_signs_in_with_her_email_in_any_case(client, alice):
    response = client.post(LOGIN, {"username": "Alice@Example.com", "password": "password"})
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert settings.SESSION_COOKIE_NAME in response.cookies
    assert client.get(reverse("tenants:dashboard")).status_code == 200


def test_signing_in_honours_a_local_next(client, alice):
    response = client.post(LOGIN, {"username": alice.email, "password": "password", "next": "/team/"})
    assert response.url == "/team/"


def test_a_wrong_password_keeps_the_email_and_says_what_is_wrong(client, alice):
    response = client.post(LOGIN, {"username": alice.email, "password": "nope"})
    body = response.content.decode()
    assert 'value="alice@example.com"' in body
    assert "correct e-mail address and password" in body


def test_the_sixth_wrong_attempt_shows_the_locked_out_page(client, alice):
    for _ in range(4):
        response = client.post(LOGIN, {"username": alice.email, "password": "wrong"})
        assert response.status_code == 200
        assert "registration/login.html" in [t.name for t in response.templates]
    client.post(LOGIN, {"username": alice.email, "password": "wrong"})
    response = client.post(LOGIN, {"username": alice.email, "password": "wrong"})
    assert response.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    assert "Too many failed sign-in attempts" in response.content.decode()
    # Locked means locked: even the right password is refused now.
    response = client.post(LOGIN, {"username": alice.email, "password": "password"})
    assert response.status_code == 429


def test_a_signed_in_user_visiting_login_goes_home(client_alice):
    response = client_alice.get(LOGIN)
    assert response.status_code == 302


# --- logout -----------------------------------------------------------------------------------


def test_logout_refuses_get(client_alice):
    assert client_alice.get(reverse("logout")).status_code == 405
    assert client_alice.get(reverse("tenants:dashboard")).status_code == 200


def test_logout_by_post_signs_out_and_says_so(client_alice):
    response = client_alice.post(reverse("logout"), follow=True)
    assert response.redirect_chain[0][0] == reverse("login")
    assert "You are signed out." in response.content.decode()
    assert client_alice.get(reverse("tenants:dashboard")).status_code == 302


# --- passwords --------------------------------------------------------------------------------


def test_password_change_needs_the_old_password_and_then_works(client_alice, alice):
    url = reverse("password_change")
    assert client_alice.get(url).status_code == 200
    response = client_alice.post(
        url,
        {"old_password": "wrong", "new_password1": "Brand-new-pass-42", "new_password2": "Brand-new-pass-42"},
    )
    assert response.status_code == 200
    assert 'class="form-control is-invalid"' in response.content.decode()
    response = client_alice.post(
        url,
        {
            "old_password": "password",
            "new_password1": "Brand-new-pass-42",
            "new_password2": "Brand-new-pass-42",
        },
    )
    assert response.url == reverse("password_change_done")
    assert client_alice.get(response.url).status_code == 200
    alice.refresh_from_db()
    assert alice.check_password("Brand-new-pass-42")


def test_password_reset_mails_a_link_that_sets_a_new_password(client, alice):
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.url == reverse("password_reset_done")
    assert "Check your e-mail" in client.get(response.url).content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert message.subject == f"Reset your {settings.SITE_NAME} password"
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body).group(1)
    response = client.get(link)  # Django swaps the token for a session-held one
    assert response.status_code == 302
    form_url = response.url
    assert "Choose a new password" in client.get(form_url).content.decode()
    response = client.post(form_url, {"new_password1": "Another-pass-77", "new_password2": "Another-pass-77"})
    assert response.url == reverse("password_reset_complete")
    assert "Your password is set" in client.get(response.url).content.decode()
    alice.refresh_from_db()
    assert alice.check_password("Another-pass-77")


def test_a_used_reset_link_says_it_no_longer_works(client, alice):
    response = client.get(reverse("password_reset_confirm", args=["MQ", "bad-token"]))
    assert "This link no longer works" in response.content.decode()


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.url == reverse("password_reset_done")
    assert mail.outbox == []


# --- sign-up ----------------------------------------------------------------------------------


def test_signup_creates_a_user_who_owns_a_new_tenant(client):
    response = client.post(reverse("signup"), _signup_data(email="Dana@Example.com"))
    assert response.status_code == 302
    assert response.url == reverse("tenants:dashboard")
    user = User.objects.get(email="dana@example.com")
    tenant = Tenant.objects.get(name="Dana Labs")
    assert Membership.objects.get(user=user, tenant=tenant).role == Role.OWNER
    assert AuditEvent.objects.filter(action="tenant.create", tenant=tenant).exists()
    dashboard = client.get(response.url)
    assert dashboard.status_code == 200
    assert "Dana Labs" in dashboard.content.decode()


def test_signup_is_404_when_it_is_closed(client, settings):
    settings.SIGNUP_ENABLED = False
    assert client.get(reverse("signup")).status_code == 404
    assert client.post(reverse("signup"), _signup_data()).status_code == 404
    assert not User.objects.filter(email="dana@example.com").exists()


def test_signup_errors_sit_beside_their_fields_and_keep_what_was_typed(client, alice):
    response = client.post(
        reverse("signup"),
        _signup_data(email="alice@example.com", password1="short", password2="different"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "already exists" in body
    assert "The two passwords differ." in body
    assert 'value="Dana New"' in body
    assert 'value="Dana Labs"' in body
    assert body.count("is-invalid") >= 2
    assert User.objects.count() == 1


def test_signup_refuses_a_weak_password(client):
    response = client.post(reverse("signup"), _signup_data(password1="password", password2="password"))
    assert "This password is too common." in response.content.decode()
    assert not User.objects.filter(email="dana@example.com").exists()


def test_a_signed_in_user_has_no_use_for_signup(client_alice):
    assert client_alice.get(reverse("signup")).status_code == 302
