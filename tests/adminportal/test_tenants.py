"""Tenants in the admin portal: list, create with an owner, disable and enable."""

from __future__ import annotations

from django.core import mail
from django.urls import reverse

from portal.models import AuditEvent
from tenants.models import Membership, Role, Tenant, User
from tests.factories import MembershipFactory, ServiceAdminFactory, SubscriptionFactory, TenantFactory


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_creating_a_tenant_with_a_new_owner_creates_the_user_and_mails_a_password_link(
    client_admin, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_admin.post(
            reverse("adminportal:tenant_create"),
            {"name": "Initech", "owner_email": "Peter@Initech.example", "owner_name": "Peter Gibbons"},
        )
    tenant = Tenant.objects.get(name="Initech")
    owner = User.objects.get(email="peter@initech.example")
    assert response["Location"] == reverse("adminportal:tenant_detail", args=[tenant.pk])
    assert not owner.has_usable_password()
    assert owner.full_name == "Peter Gibbons"
    assert Membership.objects.get(tenant=tenant, user=owner).role == Role.OWNER
    [message] = mail.outbox
    assert message.to == ["peter@initech.example"]
    assert "owner of Initech" in message.body
    assert AuditEvent.objects.filter(action="user.create", actor=admin).exists()
    assert AuditEvent.objects.filter(action="tenant.create", tenant=tenant).exists()


def test_the_mailed_link_lets_the_new_owner_choose_a_password(
    client_admin, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_admin.post(
            reverse("adminportal:tenant_create"), {"name": "Initech", "owner_email": "peter@initech.example"}
        )
    client_admin.logout()
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line)
    path = link[link.index("/accounts/reset/") :]
    response = client.get(path, follow=True)
    assert response.status_code == 200
    assert response.context["validlink"] is True


def test_creating_a_tenant_for_an_existing_user_sends_no_mail(
    client_admin, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_admin.post(
            reverse("adminportal:tenant_create"), {"name": "Side project", "owner_email": alice.email}
        )
    tenant = Tenant.objects.get(name="Side project")
    assert Membership.objects.get(tenant=tenant).user == alice
    assert mail.outbox == []


def test_a_service_admin_cannot_own_a_tenant(client_admin, admin):
    other_admin = ServiceAdminFactory(email="ops@example.com")
    response = client_admin.post(
        reverse("adminportal:tenant_create"), {"name": "Nope", "owner_email": other_admin.email}
    )
    assert response.status_code == 200
    assert "Service admins cannot be tenant members." in response.context["form"].errors["owner_email"]
    assert 'value="Nope"' in response.content.decode()
    assert not Tenant.objects.filter(name="Nope").exists()


def test_a_failed_tenant_create_leaves_no_new_user_behind(client_admin):
    response = client_admin.post(
        reverse("adminportal:tenant_create"), {"name": " ", "owner_email": "new@example.com"}
    )
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert not User.objects.filter(email="new@example.com").exists()


def test_disable_then_enable_a_tenant(client_admin, acme):
    response = client_admin.post(reverse("adminportal:tenant_disable", args=[acme.pk]), follow=True)
    acme.refresh_from_db()
    assert acme.state == "disabled"
    assert _messages(response) == ["Acme is disabled."]
    response = client_admin.post(reverse("adminportal:tenant_disable", args=[acme.pk]), follow=True)
    assert _messages(response) == ["Acme is already disabled."]
    client_admin.post(reverse("adminportal:tenant_enable", args=[acme.pk]))
    acme.refresh_from_db()
    assert acme.state == "active"


def test_the_detail_page_shows_members_subscriptions_with_quota_bars_and_activity(
    client_admin, acme, alice, bob, acme_subscription
):
    client_admin.post(reverse("adminportal:subscription_suspend", args=[acme_subscription.pk]))
    response = client_admin.get(reverse("adminportal:tenant_detail", args=[acme.pk]))
    body = response.content.decode()
    assert [m.user.email for m in response.context["members"]] == ["alice@example.com", "bob@example.com"]
    assert "Acme production" in body and "quota-bars" in body
    assert [e.action for e in response.context["events"]] == ["subscription.suspend"]
    assert "Disable Acme?" in body


def test_the_list_searches_filters_and_counts(client_admin, acme, alice, bob, acme_subscription, globex):
    SubscriptionFactory(tenant=acme, plan=acme_subscription.plan, state="cancelled")
    TenantFactory(name="Umbrella", state="disabled")
    url = reverse("adminportal:tenants")
    rows = {t.name: (t.member_count, t.subscription_count) for t in client_admin.get(url).context["page_obj"]}
    assert rows == {"Acme": (2, 1), "Globex": (0, 0), "Umbrella": (0, 0)}
    assert [t.name for t in client_admin.get(url, {"q": "glob"}).context["page_obj"]] == ["Globex"]
    assert [t.name for t in client_admin.get(url, {"state": "disabled"}).context["page_obj"]] == ["Umbrella"]
    assert next(iter(client_admin.get(url, {"sort": "-members"}).context["page_obj"])).name == "Acme"


def test_the_list_paginates_by_25(client_admin, db):
    for n in range(30):
        TenantFactory(name=f"Tenant {n:02}")
    response = client_admin.get(reverse("adminportal:tenants"), {"page": 2})
    assert response.context["page_obj"].paginator.count == 30
    assert len(response.context["page_obj"]) == 5


def test_a_search_without_results_offers_to_clear_it(client_admin, acme):
    body = client_admin.get(reverse("adminportal:tenants"), {"q": "zzz"}).content.decode()
    assert "No tenant matches these filters" in body and "Clear filters" in body


def test_an_empty_list_offers_to_create_a_tenant(client_admin, db):
    body = client_admin.get(reverse("adminportal:tenants")).content.decode()
    assert "No tenants yet" in body and reverse("adminportal:tenant_create") in body


def test_a_membership_in_a_disabled_tenant_is_shown_on_the_user_page(client_admin, alice, acme):
    MembershipFactory(tenant=TenantFactory(name="Old Co", state="disabled"), user=alice)
    body = client_admin.get(reverse("adminportal:user_detail", args=[alice.pk])).content.decode()
    assert "Old Co" in body and "Acme" in body
