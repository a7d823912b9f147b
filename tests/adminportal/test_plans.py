"""Plans and add-ons in the admin portal: create, edit, validation that keeps what was typed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.models import AuditEvent
from subscriptions.models import AddOn, Plan
from tests.factories import AddOnFactory, PlanFactory, SubscriptionFactory


def plan_data(**overrides) -> dict:
    data = {
        "name": "Gold",
        "description": "For serious work.",
        "visibility": "public",
        "invitation_code": "",
        "state": "active",
        "max_subscriptions_per_tenant": "2",
        "vms": "20",
        "vcpus": "40",
        "ram_gib": "128",
        "disk_gib": "2000",
        "networks": "10",
        "public_ips": "4",
    }
    data.update(overrides)
    return data


def addon_data(**overrides) -> dict:
    data = {
        "name": "More disk",
        "description": "",
        "state": "active",
        "vms": "0",
        "vcpus": "0",
        "ram_gib": "0",
        "disk_gib": "500",
        "networks": "0",
        "public_ips": "0",
    }
    data.update(overrides)
    return data


def test_it_creates_a_plan_with_its_addons(client_admin, admin, addon):
    response = client_admin.post(reverse("adminportal:plan_create"), plan_data(addons=[str(addon.pk)]))
    plan = Plan.objects.get(name="Gold")
    assert response.status_code == 302
    assert response["Location"] == reverse("adminportal:plan_detail", args=[plan.pk])
    assert (plan.vms, plan.ram_gib, plan.max_subscriptions_per_tenant) == (20, 128, 2)
    assert list(plan.addons.all()) == [addon]
    assert AuditEvent.objects.filter(action="plan.create", actor=admin, target_id=str(plan.pk)).exists()


def test_a_code_plan_without_a_code_shows_the_error_beside_the_field_and_keeps_the_input(client_admin):
    response = client_admin.post(
        reverse("adminportal:plan_create"), plan_data(visibility="code", name="Secret")
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "invitation_code" in form.errors
    assert "needs an invitation code" in form.errors["invitation_code"][0]
    body = response.content.decode()
    assert 'value="Secret"' in body and 'value="128"' in body
    assert "is-invalid" in form["invitation_code"].field.widget.attrs["class"]
    assert not Plan.objects.filter(name="Secret").exists()


def test_a_code_plan_with_a_code_is_created(client_admin):
    client_admin.post(
        reverse("adminportal:plan_create"), plan_data(visibility="code", invitation_code="LAUNCH-2026")
    )
    assert Plan.objects.get(name="Gold").invitation_code == "LAUNCH-2026"


def test_a_negative_quota_is_refused_beside_its_field(client_admin):
    response = client_admin.post(reverse("adminportal:plan_create"), plan_data(vcpus="-4"))
    assert response.status_code == 200
    assert "vcpus" in response.context["form"].errors
    assert 'value="-4"' in response.content.decode()
    assert not Plan.objects.filter(name="Gold").exists()


def test_a_duplicate_name_is_refused_beside_the_name(client_admin, plan):
    response = client_admin.post(reverse("adminportal:plan_create"), plan_data(name=plan.name, vms="99"))
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert 'value="99"' in response.content.decode()
    assert Plan.objects.filter(name=plan.name).count() == 1


def test_editing_a_plan_saves_and_audits_what_changed(client_admin, plan):
    url = reverse("adminportal:plan_edit", args=[plan.pk])
    form = client_admin.get(url).context["form"]
    assert form.initial["name"] == plan.name
    response = client_admin.post(url, plan_data(name=plan.name, vms="25"))
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.vms == 25
    event = AuditEvent.objects.get(action="plan.update")
    assert event.data["changed"]["vms"] == [10, 25]


def test_a_failed_edit_keeps_the_typed_values_and_saves_nothing(client_admin, plan):
    other = PlanFactory(name="Other")
    url = reverse("adminportal:plan_edit", args=[plan.pk])
    response = client_admin.post(url, plan_data(name=other.name, vms="77"))
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert 'value="77"' in response.content.decode()
    plan.refresh_from_db()
    assert (plan.name, plan.vms) == ("Standard", 10)


def test_it_creates_an_addon_offered_with_plans(client_admin, plan):
    response = client_admin.post(reverse("adminportal:addon_create"), addon_data(plans=[str(plan.pk)]))
    assert response.status_code == 302
    addon = AddOn.objects.get(name="More disk")
    assert addon.disk_gib == 500
    assert list(addon.plans.all()) == [plan]


def test_an_addon_with_a_negative_increment_is_refused(client_admin):
    response = client_admin.post(reverse("adminportal:addon_create"), addon_data(disk_gib="-1"))
    assert response.status_code == 200
    assert "disk_gib" in response.context["form"].errors
    assert not AddOn.objects.exists()


def test_editing_an_addon_changes_its_plans(client_admin, plan, addon):
    other = PlanFactory(name="Other")
    response = client_admin.post(
        reverse("adminportal:addon_edit", args=[addon.pk]), addon_data(name=addon.name, plans=[str(other.pk)])
    )
    assert response.status_code == 302
    assert list(addon.plans.all()) == [other]


def test_the_plans_page_lists_plans_and_addons_with_subscription_counts(client_admin, plan, addon, acme):
    SubscriptionFactory(tenant=acme, plan=plan)
    SubscriptionFactory(tenant=acme, plan=plan, state="cancelled")
    response = client_admin.get(reverse("adminportal:plans"))
    plans = list(response.context["page_obj"])
    assert [(p.name, p.subscription_count) for p in plans] == [("Standard", 1)]
    assert [a.name for a in response.context["addon_page"]] == ["Extra compute"]
    assert "Extra compute" in response.content.decode()


def test_the_plans_page_searches_both_lists(client_admin, plan, addon):
    AddOnFactory(name="Bigger networks")
    response = client_admin.get(reverse("adminportal:plans"), {"q": "network"})
    assert list(response.context["page_obj"]) == []
    assert [a.name for a in response.context["addon_page"]] == ["Bigger networks"]


def test_the_plans_page_without_plans_offers_to_create_one(client_admin, db):
    body = client_admin.get(reverse("adminportal:plans")).content.decode()
    assert "No plans yet" in body and reverse("adminportal:plan_create") in body


@pytest.mark.parametrize("sort", ["name", "-name", "subscriptions", "-subscriptions", "visibility", "bogus"])
def test_the_plans_page_sorts(client_admin, plan, sort):
    PlanFactory(name="Alpha")
    assert client_admin.get(reverse("adminportal:plans"), {"sort": sort}).status_code == 200


def test_the_service_rejects_a_code_plan_without_a_code_even_past_the_form(client_admin, monkeypatch):
    """The form's own check is a convenience; the service's is the rule."""
    from adminportal.forms import PlanForm

    monkeypatch.setattr(PlanForm, "clean", lambda self: self.cleaned_data)
    response = client_admin.post(reverse("adminportal:plan_create"), plan_data(visibility="code"))
    assert "needs an invitation code" in response.context["form"].errors["invitation_code"][0]
    assert not Plan.objects.filter(name="Gold").exists()


def test_every_error_shows_in_one_round(client_admin):
    response = client_admin.post(
        reverse("adminportal:plan_create"), plan_data(visibility="code", vms="-1", name="")
    )
    assert set(response.context["form"].errors) == {"name", "vms", "invitation_code"}
