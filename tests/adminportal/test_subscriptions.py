"""Subscriptions in the admin portal: assigning plans, the state transitions and their conflicts."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse

from portal.models import AuditEvent
from subscriptions.models import Subscription
from subscriptions.quota import Demand
from subscriptions.services import quota_reserve
from tenants.models import Tenant
from tests.factories import PlanFactory, SubscriptionFactory, TenantFactory


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_an_admin_assigns_a_private_plan_to_a_tenant(client_admin, admin, acme):
    private = PlanFactory(name="Enterprise", visibility="private")
    response = client_admin.post(
        reverse("adminportal:subscription_create"), {"tenant": acme.pk, "plan": private.pk, "name": ""}
    )
    subscription = Subscription.objects.get(tenant=acme, plan=private)
    assert response["Location"] == reverse("adminportal:subscription_detail", args=[subscription.pk])
    assert subscription.name == "Enterprise"
    assert subscription.created_by == admin
    assert AuditEvent.objects.get(action="subscription.create").data["by_admin"] is True


def test_a_code_plan_is_assigned_without_its_code(client_admin, acme):
    coded = PlanFactory(name="Beta", visibility="code", invitation_code="BETA")
    client_admin.post(reverse("adminportal:subscription_create"), {"tenant": acme.pk, "plan": coded.pk})
    assert Subscription.objects.filter(tenant=acme, plan=coded).exists()


def test_assigning_past_the_per_tenant_limit_shows_the_error_on_the_plan(
    client_admin, acme_subscription, plan
):
    response = client_admin.post(
        reverse("adminportal:subscription_create"),
        {"tenant": acme_subscription.tenant_id, "plan": plan.pk, "name": "Second"},
    )
    assert response.status_code == 200
    assert "already holds 1 subscription" in response.context["form"].errors["plan"][0]
    assert 'value="Second"' in response.content.decode()


def test_the_assign_form_is_prefilled_from_the_query_string(client_admin, acme, plan):
    form = client_admin.get(reverse("adminportal:subscription_create"), {"tenant": acme.pk}).context["form"]
    assert form.initial == {"tenant": str(acme.pk)}


def test_suspend_then_reactivate(client_admin, acme_subscription):
    suspend = reverse("adminportal:subscription_suspend", args=[acme_subscription.pk])
    response = client_admin.post(suspend, {"reason": "Unpaid invoice"}, follow=True)
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == "suspended"
    assert acme_subscription.state_reason == "Unpaid invoice"
    assert _messages(response) == ["Acme production of Acme is suspended."]
    assert AuditEvent.objects.get(action="subscription.suspend").data == {"reason": "Unpaid invoice"}

    response = client_admin.post(
        reverse("adminportal:subscription_reactivate", args=[acme_subscription.pk]), follow=True
    )
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == "active"
    assert _messages(response) == ["Acme production of Acme is reactivated."]


def test_cancelling_twice_is_a_conflict_shown_as_an_error(client_admin, acme_subscription):
    url = reverse("adminportal:subscription_cancel", args=[acme_subscription.pk])
    client_admin.post(url, {"reason": "Customer left"}, follow=True)
    response = client_admin.post(url, follow=True)
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == "cancelled"
    assert acme_subscription.state_reason == "Customer left"
    assert _messages(response) == ["Cannot cancel a subscription that is cancelled."]
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert AuditEvent.objects.filter(action="subscription.cancel").count() == 1


def test_reactivating_an_active_subscription_is_a_conflict(client_admin, acme_subscription):
    response = client_admin.post(
        reverse("adminportal:subscription_reactivate", args=[acme_subscription.pk]), follow=True
    )
    assert _messages(response) == ["Cannot reactivate a subscription that is active."]
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == "active"


def test_suspending_a_cancelled_subscription_is_a_conflict(client_admin, acme_subscription):
    Subscription.objects.filter(pk=acme_subscription.pk).update(state="cancelled")
    response = client_admin.post(
        reverse("adminportal:subscription_suspend", args=[acme_subscription.pk]), follow=True
    )
    assert _messages(response) == ["Cannot suspend a subscription that is cancelled."]


def test_a_subscription_holding_resources_cannot_be_cancelled(client_admin, acme_subscription):
    with transaction.atomic():
        quota_reserve(subscription=acme_subscription, demand=Demand(vms=1, vcpus=2), resource_type="vm")
    response = client_admin.post(
        reverse("adminportal:subscription_cancel", args=[acme_subscription.pk]), follow=True
    )
    assert "still has 1 resource(s)" in _messages(response)[0]
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == "active"


def test_the_detail_page_confirms_naming_the_tenant_and_what_stops(client_admin, acme_subscription):
    body = client_admin.get(
        reverse("adminportal:subscription_detail", args=[acme_subscription.pk])
    ).content.decode()
    assert "Suspend Acme production of Acme?" in body
    assert "can no longer deploy anything new" in body
    assert "Cancel Acme production of Acme?" in body
    assert 'name="reason"' in body
    assert "Reactivate" not in body


def test_the_detail_page_shows_quota_bars(client_admin, acme_subscription):
    with transaction.atomic():
        quota_reserve(subscription=acme_subscription, demand=Demand(vms=5, vcpus=2), resource_type="vm")
    response = client_admin.get(reverse("adminportal:subscription_detail", args=[acme_subscription.pk]))
    vms = response.context["rows"][0]
    assert (vms["used"], vms["limit"], vms["percent"]) == (5, 10, 50)
    assert 'data-width="50"' in response.content.decode()


def test_the_list_filters_by_state_plan_and_tenant(client_admin, acme_subscription, globex_subscription):
    other_plan = PlanFactory(name="Tiny")
    initech = TenantFactory(name="Initech")
    SubscriptionFactory(tenant=initech, plan=other_plan, state="suspended", name="Initech tiny")
    url = reverse("adminportal:subscriptions")

    def names(**params) -> list[str]:
        return sorted(s.name for s, _ in client_admin.get(url, params).context["rows"])

    assert names() == ["Acme production", "Globex secret project", "Initech tiny"]
    assert names(state="suspended") == ["Initech tiny"]
    assert names(plan=str(other_plan.pk)) == ["Initech tiny"]
    assert names(q="glob") == ["Globex secret project"]
    assert names(q="nobody") == []


def test_the_list_shows_quota_usage_bars(client_admin, acme_subscription):
    with transaction.atomic():
        quota_reserve(subscription=acme_subscription, demand=Demand(vcpus=10), resource_type="vm")
    response = client_admin.get(reverse("adminportal:subscriptions"))
    [(_, rows)] = response.context["rows"]
    assert rows[1]["used"] == 10 and rows[1]["percent"] == 50
    assert "10/20" in response.content.decode()


def test_an_empty_list_offers_to_assign_a_plan(client_admin, db):
    body = client_admin.get(reverse("adminportal:subscriptions")).content.decode()
    assert "No subscriptions yet" in body
    assert reverse("adminportal:subscription_create") in body


def test_a_disabled_tenant_gets_no_new_subscription(client_admin, acme, plan):
    Tenant.objects.filter(pk=acme.pk).update(state="disabled")
    response = client_admin.post(
        reverse("adminportal:subscription_create"), {"tenant": acme.pk, "plan": plan.pk}
    )
    assert response.status_code == 200
    assert "tenant" in response.context["form"].errors
    assert not Subscription.objects.filter(tenant=acme).exists()
