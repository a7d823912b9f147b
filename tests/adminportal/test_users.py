"""Users in the admin portal: list, create, deactivate and activate."""

from __future__ import annotations

from django.core import mail
from django.urls import reverse

from tenants.models import Invitation, User
from tests.factories import UserFactory


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_list_searches_by_email_and_name(client_admin, alice, bob, charlie):
    url = reverse("adminportal:users")
    assert [u.email for u in client_admin.get(url, {"q": "bob@"}).context["page_obj"]] == ["bob@example.com"]
    assert [u.email for u in client_admin.get(url, {"q": "elsewhere"}).context["page_obj"]] == [
        "charlie@example.com"
    ]


def test_the_list_filters_by_kind_and_status(client_admin, admin, alice, bob):
    User.objects.filter(pk=bob.pk).update(is_active=False)
    url = reverse("adminportal:users")

    def emails(**params) -> list[str]:
        return [u.email for u in client_admin.get(url, params).context["page_obj"]]

    assert emails(kind="admin") == ["admin@example.com"]
    assert emails(kind="tenant") == ["alice@example.com", "bob@example.com"]
    assert emails(active="no") == ["bob@example.com"]
    assert emails(kind="tenant", active="yes") == ["alice@example.com"]


def test_it_creates_a_service_admin_who_gets_a_password_link(
    client_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_admin.post(
            reverse("adminportal:user_create"),
            {"kind": "admin", "email": "ops@example.com", "full_name": "Ops"},
        )
    user = User.objects.get(email="ops@example.com")
    assert response["Location"] == reverse("adminportal:user_detail", args=[user.pk])
    assert user.is_service_admin and not user.has_usable_password()
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    assert "/accounts/reset/" in mail.outbox[0].body


def test_it_creates_a_tenant_user_invited_to_a_tenant(client_admin, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_admin.post(
            reverse("adminportal:user_create"),
            {"kind": "tenant", "email": "dave@example.com", "tenant": acme.pk, "role": "operator"},
        )
    user = User.objects.get(email="dave@example.com")
    assert not user.is_service_admin
    invitation = Invitation.objects.get(tenant=acme, email="dave@example.com")
    assert invitation.role == "operator"
    assert len(mail.outbox) == 2  # the invitation and the password link


def test_a_service_admin_cannot_be_invited_to_a_tenant(client_admin, acme):
    response = client_admin.post(
        reverse("adminportal:user_create"), {"kind": "admin", "email": "x@example.com", "tenant": acme.pk}
    )
    assert "tenant" in response.context["form"].errors
    assert not User.objects.filter(email="x@example.com").exists()


def test_a_duplicate_email_is_refused_beside_the_field(client_admin, alice):
    response = client_admin.post(
        reverse("adminportal:user_create"),
        {"kind": "tenant", "email": "ALICE@example.com", "full_name": "Again"},
    )
    assert response.status_code == 200
    assert "already exists" in response.context["form"].errors["email"][0]
    assert 'value="Again"' in response.content.decode()


def test_deactivate_then_activate_a_user(client_admin, alice, client):
    response = client_admin.post(reverse("adminportal:user_deactivate", args=[alice.pk]), follow=True)
    alice.refresh_from_db()
    assert not alice.is_active
    assert _messages(response) == ["alice@example.com is deactivated."]
    client_admin.post(reverse("adminportal:user_activate", args=[alice.pk]))
    alice.refresh_from_db()
    assert alice.is_active


def test_an_admin_cannot_deactivate_themselves(client_admin, admin):
    response = client_admin.post(reverse("adminportal:user_deactivate", args=[admin.pk]), follow=True)
    assert _messages(response) == ["You cannot deactivate yourself."]
    admin.refresh_from_db()
    assert admin.is_active


def test_the_detail_page_shows_memberships_and_activity(client_admin, alice, acme, acme_subscription):
    client_admin.post(reverse("adminportal:user_deactivate", args=[alice.pk]))
    response = client_admin.get(reverse("adminportal:user_detail", args=[alice.pk]))
    assert [m.tenant.name for m in response.context["memberships"]] == ["Acme"]
    assert [e.action for e in response.context["events"]] == ["user.deactivate"]
    assert response.context["shown"] == alice
    # The signed-in admin is still ``user`` in the page chrome.
    assert "Service Admin" in response.content.decode()


def test_the_list_paginates_by_25(client_admin, db):
    for n in range(30):
        UserFactory(email=f"user{n:02}@example.org")
    response = client_admin.get(reverse("adminportal:users"), {"page": 2})
    assert response.context["page_obj"].paginator.count == 31
    assert len(response.context["page_obj"]) == 6
