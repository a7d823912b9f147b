"""Plans, add-ons, subscriptions and quota reservation, through their services."""

from __future__ import annotations

import uuid

import pytest
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import transaction

from portal.errors import Conflict
from portal.events import EVENT_MESSAGE_TYPE
from portal.models import AuditEvent
from subscriptions.models import Allocation, Plan, Subscription, SubscriptionAddOn, Visibility
from subscriptions.quota import Demand, QuotaExceeded
from subscriptions.services import (
    addon_create,
    addon_update,
    plan_create,
    plan_update,
    quota_limits,
    quota_release,
    quota_reserve,
    quota_usage,
    subscription_addon_add,
    subscription_addon_remove,
    subscription_cancel,
    subscription_create,
    subscription_reactivate,
    subscription_suspend,
)
from tests.factories import AddOnFactory, PlanFactory

VM = Demand(vms=1, vcpus=2, ram_gib=4, disk_gib=40)


def _event(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


def _reserve(subscription: Subscription, demand: Demand, resource_type: str = "vm") -> Allocation:
    with transaction.atomic():
        return quota_reserve(subscription=subscription, demand=demand, resource_type=resource_type)


def _plan_data(**overrides) -> dict:
    data = {"name": "Gold", "vms": 10, "vcpus": 20, "ram_gib": 64, "disk_gib": 500, "networks": 5}
    return {**data, **overrides}


# --- plans and add-ons --------------------------------------------------------------------


def test_plan_create_saves_the_plan_with_its_addons_and_records_it(admin):
    addon = AddOnFactory()
    plan = plan_create(actor=admin, addons=[addon], **_plan_data())
    plan.refresh_from_db()
    assert (plan.name, plan.vms, plan.ram_gib, plan.visibility) == ("Gold", 10, 64, Visibility.PUBLIC)
    assert list(plan.addons.all()) == [addon]
    event = _event("plan.create")
    assert (event.actor, event.tenant, event.target_type, event.target_id) == (
        admin,
        None,
        "plan",
        str(plan.pk),
    )


def test_a_code_plan_without_a_code_is_refused_on_the_invitation_code_field(admin):
    with pytest.raises(ValidationError) as exc:
        plan_create(actor=admin, **_plan_data(visibility=Visibility.CODE))
    assert "invitation_code" in exc.value.message_dict
    assert not Plan.objects.exists()


def test_plan_create_rejects_unknown_fields(admin):
    with pytest.raises(ValidationError) as exc:
        plan_create(actor=admin, **_plan_data(colour="gold", is_free=True))
    assert sorted(exc.value.message_dict) == ["colour", "is_free"]
    assert not Plan.objects.exists()


def test_plan_create_refuses_a_negative_quota_and_a_duplicate_name(admin, plan):
    with pytest.raises(ValidationError) as exc:
        plan_create(actor=admin, **_plan_data(vms=-1))
    assert "vms" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        plan_create(actor=admin, **_plan_data(name=plan.name))
    assert "name" in exc.value.message_dict


def test_plan_update_records_old_and_new_values(admin, plan):
    plan_update(plan=plan, actor=admin, vms=20, description=plan.description)
    plan.refresh_from_db()
    assert plan.vms == 20
    event = _event("plan.update")
    assert event.data == {"changed": {"vms": [10, 20]}}
    assert (event.actor, event.target_id) == (admin, str(plan.pk))


def test_plan_update_to_code_visibility_needs_a_code(admin, plan):
    with pytest.raises(ValidationError) as exc:
        plan_update(plan=plan, actor=admin, visibility=Visibility.CODE)
    assert "invitation_code" in exc.value.message_dict
    assert Plan.objects.get(pk=plan.pk).visibility == Visibility.PUBLIC


def test_plan_update_rejects_unknown_fields(admin, plan):
    with pytest.raises(ValidationError) as exc:
        plan_update(plan=plan, actor=admin, id=uuid.uuid4())
    assert "id" in exc.value.message_dict
    assert not AuditEvent.objects.filter(action="plan.update").exists()


def test_addon_create_and_update_validate_and_record(admin, plan):
    addon = addon_create(actor=admin, plans=[plan], name="Extra VMs", vms=5, vcpus=10)
    assert list(addon.plans.all()) == [plan]
    assert _event("addon.create").target_id == str(addon.pk)
    addon_update(addon=addon, actor=admin, vms=8)
    addon.refresh_from_db()
    assert addon.vms == 8
    assert _event("addon.update").actor == admin
    with pytest.raises(ValidationError) as exc:
        addon_update(addon=addon, actor=admin, visibility="public")
    assert "visibility" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        addon_create(actor=admin, name="", vms=1)
    assert "name" in exc.value.message_dict


# --- subscription_create ------------------------------------------------------------------


def test_a_tenant_subscribes_itself_to_a_public_plan(acme, alice, plan, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        subscription = subscription_create(tenant=acme, plan=plan, actor=alice)
    assert (subscription.tenant, subscription.plan, subscription.state) == (acme, plan, "active")
    assert subscription.name == plan.name  # defaults to the plan's name
    assert subscription.created_by == alice
    event = _event("subscription.create")
    assert (event.actor, event.tenant, event.target_id) == (alice, acme, str(subscription.pk))
    assert event.data == {"plan": plan.name, "by_admin": False}
    assert len(callbacks) == 1  # the live event, sent on commit


def test_a_tenant_cannot_subscribe_to_a_private_plan(acme, alice):
    private = PlanFactory(visibility=Visibility.PRIVATE)
    with pytest.raises(ValidationError) as exc:
        subscription_create(tenant=acme, plan=private, actor=alice)
    assert "plan" in exc.value.message_dict
    assert not Subscription.objects.exists()


def test_an_admin_assigns_a_private_plan(acme, admin):
    private = PlanFactory(visibility=Visibility.PRIVATE)
    subscription = subscription_create(tenant=acme, plan=private, actor=admin, name="Assigned", by_admin=True)
    assert subscription.name == "Assigned"
    assert _event("subscription.create").data["by_admin"] is True


def test_a_code_plan_needs_the_right_code(acme, alice, admin):
    coded = PlanFactory(visibility=Visibility.CODE, invitation_code="OPEN-SESAME")
    for wrong in ("", "open-sesame", "WRONG"):
        with pytest.raises(ValidationError) as exc:
            subscription_create(tenant=acme, plan=coded, actor=alice, code=wrong)
        assert "code" in exc.value.message_dict
    assert subscription_create(tenant=acme, plan=coded, actor=alice, code=" OPEN-SESAME ")


def test_an_admin_needs_no_code_for_a_code_plan(acme, admin):
    coded = PlanFactory(visibility=Visibility.CODE, invitation_code="OPEN-SESAME")
    assert subscription_create(tenant=acme, plan=coded, actor=admin, by_admin=True)


def test_a_retired_plan_takes_no_new_subscriptions_even_from_admins(acme, alice, admin):
    retired = PlanFactory(state=Plan.State.RETIRED)
    for kwargs in ({"actor": alice}, {"actor": admin, "by_admin": True}):
        with pytest.raises(ValidationError) as exc:
            subscription_create(tenant=acme, plan=retired, **kwargs)
        assert "plan" in exc.value.message_dict


def test_a_tenant_holds_at_most_max_subscriptions_per_tenant(acme, globex, alice, charlie):
    plan = PlanFactory(max_subscriptions_per_tenant=2)
    subscription_create(tenant=acme, plan=plan, actor=alice, name="One")
    subscription_create(tenant=acme, plan=plan, actor=alice, name="Two")
    with pytest.raises(ValidationError) as exc:
        subscription_create(tenant=acme, plan=plan, actor=alice, name="Three")
    assert "the most allowed" in exc.value.message_dict["plan"][0]
    # The limit is per tenant: Globex still may.
    assert subscription_create(tenant=globex, plan=plan, actor=charlie)


def test_a_cancelled_subscription_does_not_count_towards_the_limit(acme, alice, plan):
    first = subscription_create(tenant=acme, plan=plan, actor=alice)
    with pytest.raises(ValidationError):
        subscription_create(tenant=acme, plan=plan, actor=alice)
    subscription_cancel(subscription=first, actor=alice)
    assert subscription_create(tenant=acme, plan=plan, actor=alice)


# --- suspend, reactivate, cancel -------------------------------------------------------------


def test_suspend_and_reactivate_change_state_and_record_the_reason(acme_subscription, admin):
    subscription = subscription_suspend(subscription=acme_subscription, actor=admin, reason="unpaid")
    assert (subscription.state, subscription.state_reason) == ("suspended", "unpaid")
    assert subscription.state_changed is not None
    event = _event("subscription.suspend")
    assert (event.actor, event.tenant, event.target_id, event.data) == (
        admin,
        acme_subscription.tenant,
        str(acme_subscription.pk),
        {"reason": "unpaid"},
    )
    subscription = subscription_reactivate(subscription=subscription, actor=admin)
    assert subscription.state == "active"
    assert _event("subscription.reactivate").actor == admin


@pytest.mark.parametrize(
    ("state", "action", "code"),
    [
        ("suspended", subscription_suspend, "cannot_suspend"),
        ("cancelled", subscription_suspend, "cannot_suspend"),
        ("active", subscription_reactivate, "cannot_reactivate"),
        ("cancelled", subscription_reactivate, "cannot_reactivate"),
        ("cancelled", subscription_cancel, "cannot_cancel"),
    ],
)
def test_a_transition_from_the_wrong_state_is_a_conflict(acme_subscription, admin, state, action, code):
    Subscription.objects.filter(pk=acme_subscription.pk).update(state=state)
    with pytest.raises(Conflict) as exc:
        action(subscription=acme_subscription, actor=admin)
    assert exc.value.code == code
    assert state in exc.value.message
    assert Subscription.objects.get(pk=acme_subscription.pk).state == state
    assert not AuditEvent.objects.exists()


def test_a_stale_object_cannot_win_a_transition(acme_subscription, admin):
    # Two admins load the same active subscription; the second suspend must fail, not repeat.
    stale = Subscription.objects.get(pk=acme_subscription.pk)
    subscription_suspend(subscription=acme_subscription, actor=admin)
    with pytest.raises(Conflict):
        subscription_suspend(subscription=stale, actor=admin)
    assert AuditEvent.objects.filter(action="subscription.suspend").count() == 1


@pytest.mark.parametrize("state", ["active", "suspended"])
def test_cancel_works_from_active_and_suspended(acme_subscription, alice, state):
    Subscription.objects.filter(pk=acme_subscription.pk).update(state=state)
    assert subscription_cancel(subscription=acme_subscription, actor=alice).state == "cancelled"
    assert _event("subscription.cancel").actor == alice


def test_cancel_is_refused_while_resources_hold_quota(acme_subscription, alice):
    allocation = _reserve(acme_subscription, VM)
    with pytest.raises(Conflict) as exc:
        subscription_cancel(subscription=acme_subscription, actor=alice)
    assert exc.value.code == "subscription_in_use"
    assert Subscription.objects.get(pk=acme_subscription.pk).state == "active"
    quota_release(resource_type="vm", resource_id=allocation.resource_id)
    assert subscription_cancel(subscription=acme_subscription, actor=alice).state == "cancelled"


def test_transitions_publish_a_live_event_on_commit(
    acme_subscription, admin, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []

    async def record(group, message):
        sent.append((group, message))

    monkeypatch.setattr(get_channel_layer(), "group_send", record)
    with django_capture_on_commit_callbacks() as callbacks:
        subscription_suspend(subscription=acme_subscription, actor=admin)
    assert sent == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert sent == [
        (
            f"tenant.{acme_subscription.tenant_id}",
            {
                "type": EVENT_MESSAGE_TYPE,
                "event": "subscription.changed",
                "payload": {"id": str(acme_subscription.pk), "state": "suspended"},
            },
        )
    ]


# --- add-ons ----------------------------------------------------------------------------------


def test_an_offered_addon_raises_the_limits_by_its_quantity(acme_subscription, alice, plan):
    addon = AddOnFactory(plans=[plan], vms=5, vcpus=10, public_ips=1)
    link = subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice, quantity=2)
    assert link.quantity == 2
    assert quota_limits(acme_subscription) == plan.as_demand() + Demand(vms=10, vcpus=20, public_ips=2)
    event = _event("subscription.addon_add")
    assert (event.actor, event.tenant, event.target_id) == (
        alice,
        acme_subscription.tenant,
        str(acme_subscription.pk),
    )
    assert event.data == {"addon": addon.name, "quantity": 2}


def test_adding_the_same_addon_again_raises_its_quantity(acme_subscription, alice, plan):
    addon = AddOnFactory(plans=[plan])
    subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice)
    link = subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice, quantity=2)
    assert link.quantity == 3
    assert SubscriptionAddOn.objects.filter(subscription=acme_subscription).count() == 1


def test_an_addon_not_offered_with_the_plan_is_refused(acme_subscription, alice):
    other_plan = PlanFactory()
    addon = AddOnFactory(plans=[other_plan])
    with pytest.raises(ValidationError) as exc:
        subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice)
    assert "addon" in exc.value.message_dict
    assert not SubscriptionAddOn.objects.exists()


def test_a_retired_addon_is_refused(acme_subscription, alice, plan):
    addon = AddOnFactory(plans=[plan], state="retired")
    with pytest.raises(ValidationError) as exc:
        subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice)
    assert "addon" in exc.value.message_dict


@pytest.mark.parametrize("quantity", [0, -1])
def test_an_addon_quantity_below_one_is_refused(acme_subscription, alice, plan, quantity):
    addon = AddOnFactory(plans=[plan])
    with pytest.raises(ValidationError) as exc:
        subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice, quantity=quantity)
    assert "quantity" in exc.value.message_dict


def test_an_addon_needs_an_active_subscription(acme_subscription, alice, admin, plan):
    addon = AddOnFactory(plans=[plan])
    stale = Subscription.objects.get(pk=acme_subscription.pk)  # loaded before the suspension
    subscription_suspend(subscription=acme_subscription, actor=admin)
    for subscription in (acme_subscription, stale):
        with pytest.raises(Conflict) as exc:
            subscription_addon_add(subscription=subscription, addon=addon, actor=alice)
        assert exc.value.code == "subscription_not_active"
    assert not SubscriptionAddOn.objects.exists()


def test_removing_an_addon_lowers_the_limits_and_is_recorded(acme_subscription, alice, plan):
    addon = AddOnFactory(plans=[plan])
    subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice)
    subscription_addon_remove(subscription=acme_subscription, addon=addon, actor=alice)
    assert quota_limits(acme_subscription) == plan.as_demand()
    event = _event("subscription.addon_remove")
    assert (event.actor, event.tenant, event.data) == (alice, acme_subscription.tenant, {"addon": addon.name})


def test_removing_an_addon_is_refused_when_usage_would_exceed_the_new_limit(acme_subscription, alice, plan):
    addon = AddOnFactory(plans=[plan], vms=5, vcpus=10)
    subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice)
    _reserve(acme_subscription, Demand(vms=plan.vms + 1, vcpus=plan.vcpus + 1))
    with pytest.raises(Conflict) as exc:
        subscription_addon_remove(subscription=acme_subscription, addon=addon, actor=alice)
    assert exc.value.code == "addon_in_use"
    assert "vms, vcpus" in exc.value.message
    assert SubscriptionAddOn.objects.filter(subscription=acme_subscription, addon=addon).exists()


def test_removing_an_addon_is_allowed_when_usage_exactly_fits_the_new_limit(acme_subscription, alice, plan):
    addon = AddOnFactory(plans=[plan])
    subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice)
    _reserve(acme_subscription, Demand(vms=plan.vms))
    subscription_addon_remove(subscription=acme_subscription, addon=addon, actor=alice)
    assert not SubscriptionAddOn.objects.exists()


def test_removing_an_addon_that_is_not_attached_is_a_conflict(acme_subscription, alice, plan):
    addon = AddOnFactory(plans=[plan])
    with pytest.raises(Conflict) as exc:
        subscription_addon_remove(subscription=acme_subscription, addon=addon, actor=alice)
    assert exc.value.code == "addon_not_attached"


# --- quota_reserve and quota_release -----------------------------------------------------------


def test_reserve_writes_one_allocation_row_with_the_demand(acme_subscription):
    resource_id = uuid.uuid4()
    with transaction.atomic():
        allocation = quota_reserve(
            subscription=acme_subscription, demand=VM, resource_type="vm", resource_id=resource_id
        )
    assert (allocation.subscription, allocation.resource_type, allocation.resource_id) == (
        acme_subscription,
        "vm",
        resource_id,
    )
    assert allocation.as_demand() == VM


def test_reserve_up_to_the_limit_then_refuses(acme_subscription, plan):
    for _ in range(plan.vms):
        _reserve(acme_subscription, Demand(vms=1))
    with pytest.raises(QuotaExceeded) as exc:
        _reserve(acme_subscription, Demand(vms=1))
    assert exc.value.as_dict() == {"vms": {"used": plan.vms, "limit": plan.vms, "requested": 1}}
    assert Allocation.objects.count() == plan.vms


def test_quota_exceeded_names_every_exceeded_dimension_with_used_limit_and_requested(acme_subscription, plan):
    # Standard: vms 10, vcpus 20, ram 40, disk 500, networks 5, public IPs 2.
    _reserve(acme_subscription, Demand(vms=8, vcpus=16, ram_gib=32, public_ips=2))
    with pytest.raises(QuotaExceeded) as exc:
        _reserve(acme_subscription, Demand(vms=3, vcpus=4, ram_gib=16, disk_gib=100, public_ips=1))
    assert exc.value.as_dict() == {
        "vms": {"used": 8, "limit": 10, "requested": 3},
        "ram_gib": {"used": 32, "limit": 40, "requested": 16},
        "public_ips": {"used": 2, "limit": 2, "requested": 1},
    }
    message = str(exc.value)
    assert "VMs: 8 used of 10, 3 requested (1 over)" in message
    assert "RAM (GiB): 32 used of 40, 16 requested (8 over)" in message
    assert "Public IPs: 2 used of 2, 1 requested (1 over)" in message
    assert "vCPUs" not in message and "Disk" not in message  # within their limits
    assert Allocation.objects.count() == 1


def test_reserve_counts_only_its_own_subscription(acme_subscription, globex_subscription, plan):
    _reserve(globex_subscription, Demand(vms=plan.vms))
    assert _reserve(acme_subscription, Demand(vms=plan.vms))


@pytest.mark.django_db(transaction=True)
def test_reserve_refuses_to_run_outside_a_transaction(acme_subscription):
    with pytest.raises(RuntimeError, match="transaction"):
        quota_reserve(subscription=acme_subscription, demand=VM, resource_type="vm")
    assert not Allocation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_reservation_rolls_back_with_the_callers_transaction(acme_subscription):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        quota_reserve(subscription=acme_subscription, demand=VM, resource_type="vm")
        1 / 0  # the caller's resource write fails
    assert not Allocation.objects.exists()


@pytest.mark.parametrize("state", ["suspended", "cancelled"])
def test_reserve_refuses_a_subscription_that_is_not_active(acme_subscription, state):
    # The caller's copy still says active: the service must read the locked row, not trust it.
    Subscription.objects.filter(pk=acme_subscription.pk).update(state=state)
    with pytest.raises(Conflict) as exc:
        _reserve(acme_subscription, VM)
    assert exc.value.code == "subscription_not_active"
    assert state in exc.value.message
    assert not Allocation.objects.exists()


def test_addons_raise_the_limit_reserve_checks(acme_subscription, alice, plan):
    _reserve(acme_subscription, Demand(vms=plan.vms))
    with pytest.raises(QuotaExceeded):
        _reserve(acme_subscription, Demand(vms=1))
    addon = AddOnFactory(plans=[plan], vms=2)
    subscription_addon_add(subscription=acme_subscription, addon=addon, actor=alice)
    _reserve(acme_subscription, Demand(vms=2))
    with pytest.raises(QuotaExceeded) as exc:
        _reserve(acme_subscription, Demand(vms=1))
    assert exc.value.as_dict()["vms"] == {"used": plan.vms + 2, "limit": plan.vms + 2, "requested": 1}


def test_release_frees_the_quota_and_is_idempotent(acme_subscription, plan):
    allocation = _reserve(acme_subscription, Demand(vms=plan.vms))
    assert quota_release(resource_type="vm", resource_id=allocation.resource_id) == 1
    assert quota_release(resource_type="vm", resource_id=allocation.resource_id) == 0
    assert quota_usage(acme_subscription).used.is_zero()
    assert _reserve(acme_subscription, Demand(vms=plan.vms))


def test_release_only_frees_the_named_resource_type(acme_subscription):
    allocation = _reserve(acme_subscription, VM)
    assert quota_release(resource_type="network", resource_id=allocation.resource_id) == 0
    assert Allocation.objects.count() == 1


def test_usage_equals_the_sum_of_the_ledger(acme_subscription, globex_subscription, plan):
    _reserve(acme_subscription, VM)
    second = _reserve(acme_subscription, VM)
    _reserve(acme_subscription, Demand(networks=1), resource_type="network")
    _reserve(globex_subscription, Demand(vms=5))
    quota_release(resource_type="vm", resource_id=second.resource_id)
    usage = quota_usage(acme_subscription)
    assert usage.used == VM + Demand(networks=1)
    assert usage.limit == plan.as_demand()
    ledger = Demand()
    for allocation in Allocation.objects.filter(subscription=acme_subscription):
        ledger = ledger + allocation.as_demand()
    assert usage.used == ledger


def test_a_second_allocation_for_the_same_resource_is_refused(acme_subscription):
    from django.db import IntegrityError

    allocation = _reserve(acme_subscription, VM)
    with pytest.raises(IntegrityError), transaction.atomic():
        quota_reserve(
            subscription=acme_subscription, demand=VM, resource_type="vm", resource_id=allocation.resource_id
        )
    assert Allocation.objects.count() == 1


def test_every_subscription_write_is_audited_with_actor_tenant_action_and_target(acme, alice, admin, plan):
    addon = AddOnFactory(plans=[plan])
    subscription = subscription_create(tenant=acme, plan=plan, actor=alice)
    subscription_addon_add(subscription=subscription, addon=addon, actor=alice)
    subscription_addon_remove(subscription=subscription, addon=addon, actor=alice)
    subscription_suspend(subscription=subscription, actor=admin)
    subscription_reactivate(subscription=subscription, actor=admin)
    subscription_cancel(subscription=subscription, actor=alice)
    events = list(AuditEvent.objects.order_by("id").values_list("actor", "tenant", "action", "target_id"))
    sub = str(subscription.pk)
    assert events == [
        (alice.pk, acme.pk, "subscription.create", sub),
        (alice.pk, acme.pk, "subscription.addon_add", sub),
        (alice.pk, acme.pk, "subscription.addon_remove", sub),
        (admin.pk, acme.pk, "subscription.suspend", sub),
        (admin.pk, acme.pk, "subscription.reactivate", sub),
        (alice.pk, acme.pk, "subscription.cancel", sub),
    ]


def test_the_dashboard_selector_agrees_with_quota_usage_in_two_queries(
    acme_subscription, globex_subscription, alice, plan, django_assert_num_queries
):
    from subscriptions.selectors import quota_usage_many

    subscription_addon_add(
        subscription=acme_subscription, addon=AddOnFactory(plans=[plan]), actor=alice, quantity=2
    )
    _reserve(acme_subscription, VM)
    _reserve(acme_subscription, Demand(networks=1), resource_type="network")
    _reserve(globex_subscription, Demand(vms=3))
    subscriptions = list(Subscription.objects.select_related("plan"))
    with django_assert_num_queries(2):
        many = quota_usage_many(subscriptions)
    assert many == {s.pk: quota_usage(s) for s in subscriptions}


def test_a_disabled_tenant_takes_no_new_subscriptions(acme, plan, admin):
    from portal.errors import Conflict
    from subscriptions.services import subscription_create

    acme.state = "disabled"
    acme.save()
    with pytest.raises(Conflict) as excinfo:
        subscription_create(tenant=acme, plan=plan, actor=admin, by_admin=True)
    assert excinfo.value.code == "tenant_disabled"
