"""The admin activity page: every tenant's events, filtered by tenant, actor and action."""

from __future__ import annotations

from django.urls import reverse

from portal.audit import audit_record
from tests.factories import ServiceAdminFactory


def _actions(client, **params) -> list[str]:
    response = client.get(reverse("adminportal:activity"), params)
    assert response.status_code == 200
    return [e.action for e in response.context["page_obj"]]


def test_it_lists_every_tenants_events_newest_first(client_admin, alice, charlie, acme, globex):
    audit_record(actor=alice, tenant=acme, action="subscription.create")
    audit_record(actor=charlie, tenant=globex, action="membership.remove")
    audit_record(actor=None, tenant=None, action="plan.create")
    assert _actions(client_admin) == ["plan.create", "membership.remove", "subscription.create"]


def test_it_filters_by_tenant_id_or_name(client_admin, alice, charlie, acme, globex):
    audit_record(actor=alice, tenant=acme, action="subscription.create")
    audit_record(actor=charlie, tenant=globex, action="subscription.cancel")
    assert _actions(client_admin, tenant=str(acme.pk)) == ["subscription.create"]
    assert _actions(client_admin, tenant="glob") == ["subscription.cancel"]


def test_it_filters_by_actor_and_action_prefix(client_admin, alice, charlie, acme, globex):
    audit_record(actor=alice, tenant=acme, action="subscription.create")
    audit_record(actor=alice, tenant=acme, action="subscription.suspend")
    audit_record(actor=alice, tenant=acme, action="subscriptions_report.view")
    audit_record(actor=charlie, tenant=globex, action="membership.remove")
    assert _actions(client_admin, actor="alice") == [
        "subscriptions_report.view",
        "subscription.suspend",
        "subscription.create",
    ]
    # A family matches its own actions only, not another family that shares the prefix.
    assert _actions(client_admin, action="subscription") == ["subscription.suspend", "subscription.create"]
    assert _actions(client_admin, action="subscription.suspend") == ["subscription.suspend"]


def test_the_action_menu_offers_families_and_actions(client_admin, alice, acme):
    audit_record(actor=alice, tenant=acme, action="subscription.create")
    body = client_admin.get(reverse("adminportal:activity")).content.decode()
    assert '<option value="subscription">All subscription.*</option>' in body
    assert '<option value="subscription.create">subscription.create</option>' in body


def test_it_paginates_by_25(client_admin, db):
    actor = ServiceAdminFactory(email="ops@example.com")
    for _ in range(30):
        audit_record(actor=actor, tenant=None, action="plan.update")
    response = client_admin.get(reverse("adminportal:activity"), {"page": 2})
    assert len(response.context["page_obj"]) == 5


def test_an_event_links_to_its_target(client_admin, acme_subscription, admin):
    audit_record(
        actor=admin, tenant=acme_subscription.tenant, action="subscription.suspend", target=acme_subscription
    )
    body = client_admin.get(reverse("adminportal:activity")).content.decode()
    assert reverse("adminportal:subscription_detail", args=[acme_subscription.pk]) in body


def test_an_unknown_filter_value_is_ignored_not_an_error(client_admin, alice, acme):
    audit_record(actor=alice, tenant=acme, action="subscription.create")
    assert _actions(client_admin, action="no.such") == ["subscription.create"]
