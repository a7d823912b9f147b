"""The audit log: who did what to which object, in which tenant, from where."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse

from portal.audit import audit_record, current_ip
from portal.models import AuditEvent
from portal.tenancy import CurrentTenantMiddleware


def test_it_captures_actor_tenant_action_target_and_data(alice, acme, acme_subscription):
    event = audit_record(
        actor=alice, tenant=acme, action="subscription.rename", target=acme_subscription, data={"to": "x"}
    )
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor, event.actor_repr, event.tenant, event.action) == (
        alice,
        "alice@example.com",
        acme,
        "subscription.rename",
    )
    assert (event.target_type, event.target_id, event.target_repr) == (
        "subscription",
        str(acme_subscription.pk),
        "Acme production",
    )
    assert event.data == {"to": "x"}
    assert event.created is not None
    assert event.ip_address is None  # no request around it
    assert str(event) == "alice@example.com subscription.rename Acme production"


def test_a_system_event_has_no_actor_and_reads_system(acme):
    event = audit_record(actor=None, tenant=acme, action="invitation.expire")
    assert (event.actor, event.actor_repr) == (None, "system")
    assert (event.target_type, event.target_id, event.target_repr) == ("", "", "")
    assert event.data == {}
    assert str(event).startswith("system invitation.expire")


def test_an_anonymous_actor_is_recorded_as_the_system(db):
    event = audit_record(actor=AnonymousUser(), tenant=None, action="x")
    assert (event.actor, event.actor_repr) == (None, "system")


def test_a_long_target_name_is_cut_to_fit(alice, acme, acme_subscription):
    acme_subscription.name = "n" * 300
    event = audit_record(actor=alice, tenant=acme, action="x", target=acme_subscription)
    assert event.target_repr == "n" * 200


def test_the_name_survives_the_actor_being_deleted(alice, acme):
    event = audit_record(actor=alice, tenant=acme, action="x", target=acme)
    alice.delete()
    event.refresh_from_db()
    assert (event.actor, event.actor_repr) == (None, "alice@example.com")


def test_the_middleware_records_the_requests_address_for_events_written_during_it(rf, alice, acme):
    def view(request):
        audit_record(actor=alice, tenant=acme, action="in.request")
        return HttpResponse()

    middleware = CurrentTenantMiddleware(view)
    middleware(rf.post("/", REMOTE_ADDR="203.0.113.9"))
    middleware(rf.post("/", REMOTE_ADDR="2001:db8::1"))
    assert list(AuditEvent.objects.order_by("id").values_list("ip_address", flat=True)) == [
        "203.0.113.9",
        "2001:db8::1",
    ]


def test_the_address_does_not_leak_past_the_request(rf, alice, acme):
    def view(request):
        raise RuntimeError("boom")

    try:
        CurrentTenantMiddleware(view)(rf.get("/", REMOTE_ADDR="203.0.113.9"))
    except RuntimeError:
        pass
    assert current_ip.get() is None
    assert audit_record(actor=None, tenant=acme, action="after").ip_address is None


def test_the_middleware_is_installed(settings):
    assert "portal.tenancy.CurrentTenantMiddleware" in settings.MIDDLEWARE
