"""Tenant portal pages for plans and subscriptions."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.models import AuditEvent
from subscriptions.models import Plan, Subscription, SubscriptionAddOn, Visibility
from subscriptions.quota import Demand
from subscriptions.services import quota_reserve
from tests.factories import AddOnFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

PLANS = reverse("subscriptions:plans")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _reserve(subscription, **demand) -> None:
    with transaction.atomic():
        quota_reserve(subscription=subscription, demand=Demand(**demand), resource_type="test")


# --- plans ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "carol"])
def test_the_plans_page_shows_public_plans_to_every_role(request, who, plan):
    PlanFactory(name="Hidden", visibility=Visibility.PRIVATE)
    PlanFactory(name="Old", state=Plan.State.RETIRED)
    response = client_for(request.getfixturevalue(who)).get(PLANS)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Standard" in body
    assert "Hidden" not in body and "Old" not in body
    assert ("Subscribe to Standard" in body) == (who == "alice")
    assert ("Have an invitation code?" in body) == (who == "alice")


def test_a_plan_card_lists_its_quotas_and_add_ons(client_alice, plan):
    AddOnFactory(name="Extra compute", plans=[plan])
    body = client_alice.get(PLANS).content.decode()
    assert "Extra compute" in body
    assert "RAM (GiB)" in body
    assert ">500<" in body  # disk GiB


def test_the_owner_subscribes_to_a_public_plan(client_alice, alice, acme, plan):
    response = client_alice.post(PLANS, {"form": "subscribe", "plan": str(plan.pk), "name": "Web shop"})
    subscription = Subscription.objects.get(tenant=acme)
    assert response.url == reverse("subscriptions:detail", args=[subscription.pk])
    assert subscription.name == "Web shop"
    assert subscription.created_by == alice
    assert AuditEvent.objects.filter(action="subscription.create", tenant=acme).exists()


def test_the_subscription_name_defaults_to_the_plans(client_alice, acme, plan):
    client_alice.post(PLANS, {"form": "subscribe", "plan": str(plan.pk), "name": ""})
    assert Subscription.objects.get(tenant=acme).name == "Standard"


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_only_owners_subscribe(request, who, plan):
    client = client_for(request.getfixturevalue(who))
    response = client.post(PLANS, {"form": "subscribe", "plan": str(plan.pk)})
    assert response.status_code == 403
    assert not Subscription.objects.exists()


def test_a_subscribe_error_keeps_the_typed_name_beside_the_field(client_alice, plan):
    response = client_alice.post(PLANS, {"form": "subscribe", "plan": str(plan.pk), "name": "x" * 101})
    assert response.status_code == 200
    body = response.content.decode()
    assert "at most 100 characters" in body
    assert f'value="{"x" * 101}"' in body
    assert "is-invalid" in body
    assert not Subscription.objects.exists()


def test_a_plan_held_to_its_limit_offers_no_subscribe_button(client_alice, acme, plan):
    SubscriptionFactory(tenant=acme, plan=plan)
    body = client_alice.get(PLANS).content.decode()
    assert "You hold 1 of the 1 subscription allowed." in body
    assert "Subscribe to Standard" not in body
    response = client_alice.post(PLANS, {"form": "subscribe", "plan": str(plan.pk)})
    assert "the most allowed" in " ".join(messages_of(response))
    assert Subscription.objects.filter(tenant=acme).count() == 1


def test_a_private_plan_cannot_be_subscribed_to_by_its_id(client_alice, acme):
    private = PlanFactory(name="Private", visibility=Visibility.PRIVATE)
    response = client_alice.post(PLANS, {"form": "subscribe", "plan": str(private.pk)})
    assert "assigned by service admins only" in " ".join(messages_of(response))
    assert not Subscription.objects.exists()


def test_a_wrong_invitation_code_says_so_beside_the_field(client_alice):
    PlanFactory(name="Partners", visibility=Visibility.CODE, invitation_code="OPEN-SESAME")
    response = client_alice.post(PLANS, {"form": "code", "code": "guess"})
    body = response.content.decode()
    assert "No plan matches this code" in body
    assert 'value="guess"' in body
    assert "Partners" not in body


def test_the_right_code_unlocks_a_plan_to_subscribe_to(client_alice, acme):
    partners = PlanFactory(name="Partners", visibility=Visibility.CODE, invitation_code="OPEN-SESAME")
    body = client_alice.post(PLANS, {"form": "code", "code": " OPEN-SESAME "}).content.decode()
    assert "Unlocked by your code" in body
    assert "Subscribe to Partners" in body
    response = client_alice.post(
        PLANS, {"form": "subscribe", "plan": str(partners.pk), "code": "OPEN-SESAME"}
    )
    assert Subscription.objects.get(tenant=acme).plan == partners
    assert response.status_code == 302


def test_a_code_plan_without_its_code_is_refused(client_alice):
    partners = PlanFactory(name="Partners", visibility=Visibility.CODE, invitation_code="OPEN-SESAME")
    response = client_alice.post(PLANS, {"form": "subscribe", "plan": str(partners.pk), "code": "nope"})
    assert "not right for this plan" in " ".join(messages_of(response))
    assert not Subscription.objects.exists()


def test_the_plans_page_has_an_empty_state(client_alice):
    assert "No plans on offer" in client_alice.get(PLANS).content.decode()


# --- list ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "carol"])
def test_the_list_shows_state_badges_and_quota_bars_to_every_role(
    request, who, acme_subscription, globex_subscription
):
    _reserve(acme_subscription, vms=5)
    body = client_for(request.getfixturevalue(who)).get(reverse("subscriptions:list")).content.decode()
    assert "Acme production" in body
    assert "Globex secret project" not in body
    assert "text-bg-success" in body  # active badge
    assert 'data-width="50"' in body  # 5 of 10 VMs
    assert "5/10" in body


def test_the_list_filters_by_state_and_searches(client_alice, acme):
    SubscriptionFactory(tenant=acme, name="Alpha")
    SubscriptionFactory(tenant=acme, name="Beta", state=Subscription.State.SUSPENDED)
    SubscriptionFactory(tenant=acme, name="Gamma", state=Subscription.State.CANCELLED)
    url = reverse("subscriptions:list")
    names = lambda response: [row["subscription"].name for row in response.context["rows"]]  # noqa: E731
    assert names(client_alice.get(url)) == ["Alpha", "Beta", "Gamma"]
    suspended = client_alice.get(url, {"state": "suspended"})
    assert names(suspended) == ["Beta"]
    assert "New deployments blocked" in suspended.content.decode()
    assert names(client_alice.get(url, {"q": "gam"})) == ["Gamma"]
    assert names(client_alice.get(url, {"sort": "-name"})) == ["Gamma", "Beta", "Alpha"]
    assert "No subscription matches" in client_alice.get(url, {"q": "zzz"}).content.decode()


def test_the_list_has_an_empty_state_for_owners(client_alice):
    body = client_alice.get(reverse("subscriptions:list")).content.decode()
    assert "No subscriptions yet" in body
    assert "Subscribe to a plan" in body


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("subscriptions:list")).status_code == 200
    return len(ctx.captured_queries)


def test_the_list_runs_the_same_number_of_queries_for_2_or_20_subscriptions(client_alice, acme):
    def add(count):
        for _ in range(count):
            plan = PlanFactory()
            subscription = SubscriptionFactory(tenant=acme, plan=plan)
            SubscriptionAddOn.objects.create(subscription=subscription, addon=AddOnFactory(plans=[plan]))
            _reserve(subscription, vms=1)

    add(2)
    with_two = _list_queries(client_alice)
    add(18)
    assert _list_queries(client_alice) == with_two


# --- detail ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "carol"])
def test_the_detail_page_renders_for_every_role(request, who, acme_subscription):
    _reserve(acme_subscription, vcpus=5)
    response = client_for(request.getfixturevalue(who)).get(
        reverse("subscriptions:detail", args=[acme_subscription.pk])
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "5 / 20" in body
    assert ("Cancel subscription" in body) == (who == "alice")
    assert ("Rename" in body) == (who == "alice")


def test_another_tenants_subscription_is_404_everywhere(client_charlie, acme_subscription, plan):
    addon = AddOnFactory(plans=[plan])
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon)
    pk = acme_subscription.pk
    assert client_charlie.get(reverse("subscriptions:detail", args=[pk])).status_code == 404
    assert client_charlie.get(reverse("subscriptions:rename", args=[pk])).status_code == 404
    assert (
        client_charlie.post(reverse("subscriptions:rename", args=[pk]), {"name": "pwned"}).status_code == 404
    )
    assert client_charlie.post(reverse("subscriptions:cancel", args=[pk])).status_code == 404
    assert (
        client_charlie.post(
            reverse("subscriptions:addon_add", args=[pk]), {"addon": str(addon.pk), "quantity": 1}
        ).status_code
        == 404
    )
    assert client_charlie.post(reverse("subscriptions:addon_remove", args=[pk, addon.pk])).status_code == 404
    acme_subscription.refresh_from_db()
    assert (acme_subscription.name, acme_subscription.state) == ("Acme production", "active")
    assert SubscriptionAddOn.objects.get(subscription=acme_subscription).quantity == 1


def test_a_suspended_subscription_says_deployments_are_blocked(client_alice, acme_subscription):
    Subscription.objects.filter(pk=acme_subscription.pk).update(
        state="suspended", state_reason="Unpaid invoice"
    )
    body = client_alice.get(reverse("subscriptions:detail", args=[acme_subscription.pk])).content.decode()
    assert "New deployments are blocked" in body
    assert "Unpaid invoice" in body
    assert "Add an add-on" not in body


# --- cancel ------------------------------------------------------------------------------------------


def test_the_cancel_confirmation_names_what_is_lost(client_alice, acme_subscription, plan):
    SubscriptionAddOn.objects.create(
        subscription=acme_subscription, addon=AddOnFactory(name="Turbo", plans=[plan])
    )
    body = client_alice.get(reverse("subscriptions:detail", args=[acme_subscription.pk])).content.decode()
    assert "Cancelling “Acme production” ends it for good" in body
    assert "10 VMs" in body
    assert "add-ons (Turbo)" in body


def test_the_owner_cancels_a_subscription(client_alice, acme_subscription):
    response = client_alice.post(reverse("subscriptions:cancel", args=[acme_subscription.pk]), follow=True)
    assert "is cancelled" in " ".join(messages_of(response))
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == Subscription.State.CANCELLED
    assert "Cancel subscription" not in response.content.decode()


def test_a_subscription_still_in_use_cannot_be_cancelled(client_alice, acme_subscription):
    _reserve(acme_subscription, vms=1)
    response = client_alice.post(reverse("subscriptions:cancel", args=[acme_subscription.pk]), follow=True)
    assert "Delete them before cancelling" in " ".join(messages_of(response))
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == Subscription.State.ACTIVE


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_only_owners_cancel(request, who, acme_subscription):
    response = client_for(request.getfixturevalue(who)).post(
        reverse("subscriptions:cancel", args=[acme_subscription.pk])
    )
    assert response.status_code == 403
    acme_subscription.refresh_from_db()
    assert acme_subscription.state == Subscription.State.ACTIVE


def test_cancel_is_post_only(client_alice, acme_subscription):
    assert client_alice.get(reverse("subscriptions:cancel", args=[acme_subscription.pk])).status_code == 405


# --- add-ons -----------------------------------------------------------------------------------------


def test_the_owner_adds_and_removes_an_add_on(client_alice, acme_subscription, plan):
    addon = AddOnFactory(name="Turbo", plans=[plan], vms=5)
    detail = reverse("subscriptions:detail", args=[acme_subscription.pk])
    assert "Turbo" in client_alice.get(detail).content.decode()
    response = client_alice.post(
        reverse("subscriptions:addon_add", args=[acme_subscription.pk]),
        {"addon": str(addon.pk), "quantity": "2"},
    )
    assert response.url == detail
    assert SubscriptionAddOn.objects.get(subscription=acme_subscription).quantity == 2
    assert "0 / 20" in client_alice.get(detail).content.decode()  # VMs: 10 + 2 x 5
    response = client_alice.post(
        reverse("subscriptions:addon_remove", args=[acme_subscription.pk, addon.pk]), follow=True
    )
    assert "Turbo removed" in " ".join(messages_of(response))
    assert not SubscriptionAddOn.objects.exists()


def test_an_add_on_error_re_renders_the_form_with_the_typed_values(client_alice, acme_subscription, plan):
    addon = AddOnFactory(name="Turbo", plans=[plan])
    response = client_alice.post(
        reverse("subscriptions:addon_add", args=[acme_subscription.pk]),
        {"addon": str(addon.pk), "quantity": "0"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "greater than or equal to 1" in body
    assert 'value="0"' in body
    assert f'<option value="{addon.pk}" selected>' in body
    assert not SubscriptionAddOn.objects.exists()


def test_an_add_on_not_offered_with_the_plan_is_refused(client_alice, acme_subscription):
    stranger = AddOnFactory(name="Stranger")
    response = client_alice.post(
        reverse("subscriptions:addon_add", args=[acme_subscription.pk]),
        {"addon": str(stranger.pk), "quantity": "1"},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not SubscriptionAddOn.objects.exists()


def test_removing_an_add_on_that_is_in_use_is_refused(client_alice, acme_subscription, plan):
    addon = AddOnFactory(plans=[plan], vms=5)
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon)
    _reserve(acme_subscription, vms=12)
    response = client_alice.post(
        reverse("subscriptions:addon_remove", args=[acme_subscription.pk, addon.pk]), follow=True
    )
    assert "over their limit" in " ".join(messages_of(response))
    assert SubscriptionAddOn.objects.exists()


def test_removing_an_add_on_that_is_not_attached_is_404(client_alice, acme_subscription, plan):
    addon = AddOnFactory(plans=[plan])
    assert (
        client_alice.post(
            reverse("subscriptions:addon_remove", args=[acme_subscription.pk, addon.pk])
        ).status_code
        == 404
    )


def test_add_ons_need_an_active_subscription(client_alice, acme_subscription, plan):
    addon = AddOnFactory(plans=[plan])
    Subscription.objects.filter(pk=acme_subscription.pk).update(state="suspended")
    response = client_alice.post(
        reverse("subscriptions:addon_add", args=[acme_subscription.pk]),
        {"addon": str(addon.pk), "quantity": "1"},
        follow=True,
    )
    assert "add-ons need an active subscription" in " ".join(messages_of(response))


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_only_owners_change_add_ons(request, who, acme_subscription, plan):
    addon = AddOnFactory(plans=[plan])
    client = client_for(request.getfixturevalue(who))
    url = reverse("subscriptions:addon_add", args=[acme_subscription.pk])
    assert client.post(url, {"addon": str(addon.pk), "quantity": "1"}).status_code == 403
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon)
    assert (
        client.post(reverse("subscriptions:addon_remove", args=[acme_subscription.pk, addon.pk])).status_code
        == 403
    )
    assert SubscriptionAddOn.objects.get().quantity == 1


# --- rename ------------------------------------------------------------------------------------------


def test_rename_loads_inline_through_htmx(client_alice, acme_subscription):
    response = client_alice.get(
        reverse("subscriptions:rename", args=[acme_subscription.pk]), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "<html" not in body
    assert 'value="Acme production"' in body


def test_rename_works_as_a_page_too(client_alice, acme_subscription):
    body = client_alice.get(reverse("subscriptions:rename", args=[acme_subscription.pk])).content.decode()
    assert "<html" in body and "Rename subscription" in body


def test_the_owner_renames_a_subscription(client_alice, acme_subscription, acme):
    url = reverse("subscriptions:rename", args=[acme_subscription.pk])
    response = client_alice.post(url, {"name": "  Production  "})
    assert response.url == reverse("subscriptions:detail", args=[acme_subscription.pk])
    acme_subscription.refresh_from_db()
    assert acme_subscription.name == "Production"
    assert AuditEvent.objects.filter(action="subscription.rename", tenant=acme).exists()


def test_a_rename_error_keeps_the_typed_name(client_alice, acme_subscription):
    response = client_alice.post(
        reverse("subscriptions:rename", args=[acme_subscription.pk]), {"name": "y" * 120}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert f'value="{"y" * 120}"' in body
    assert "is-invalid" in body
    acme_subscription.refresh_from_db()
    assert acme_subscription.name == "Acme production"


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_only_owners_rename(request, who, acme_subscription):
    client = client_for(request.getfixturevalue(who))
    url = reverse("subscriptions:rename", args=[acme_subscription.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"name": "Mine now"}).status_code == 403


def test_a_404_for_another_tenants_subscription_does_not_echo_its_id(client_charlie, acme_subscription):
    response = client_charlie.get(reverse("subscriptions:detail", args=[acme_subscription.pk]))
    assert response.status_code == 404
    body = response.content.decode()
    assert str(acme_subscription.pk) not in body
    assert "Acme" not in body
