"""Which tenant a request acts in: session choice, fallbacks, switching, scoped querysets."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

from portal.models import AuditEvent
from portal.tenancy import SESSION_KEY, get_memberships, get_tenant_context, switch_tenant, tenant_view
from subscriptions.models import Subscription
from tenants.models import Membership, Role, Tenant
from tests.factories import MembershipFactory, TenantFactory


@pytest.fixture
def request_for(rf):
    def make(user, tenant_id=None):
        request = rf.get("/")
        request.user = user
        request.session = {SESSION_KEY: str(tenant_id)} if tenant_id else {}
        return request

    return make


@pytest.fixture
def alice_in_globex(alice, globex):
    """Alice owns Acme and reads Globex."""
    MembershipFactory(tenant=globex, user=alice, role=Role.READER)
    return alice


def test_the_session_tenant_is_used_when_the_user_is_a_member(request_for, alice_in_globex, globex):
    context = get_tenant_context(request_for(alice_in_globex, globex.pk))
    assert (context.tenant, context.role) == (globex, Role.READER)


def test_without_a_session_tenant_the_first_membership_by_name_is_used(request_for, alice_in_globex, acme):
    context = get_tenant_context(request_for(alice_in_globex))
    assert (context.tenant, context.role) == (acme, Role.OWNER)


def test_a_session_tenant_the_user_is_not_a_member_of_falls_back_to_the_first_membership(
    request_for, alice, acme, globex
):
    # e.g. alice was removed from Globex after she switched to it.
    context = get_tenant_context(request_for(alice, globex.pk))
    assert context.tenant == acme


def test_a_disabled_tenant_is_ignored_even_when_it_is_the_session_tenant(
    request_for, alice_in_globex, acme, globex
):
    Tenant.objects.filter(pk=acme.pk).update(state=Tenant.State.DISABLED)
    request = request_for(alice_in_globex, acme.pk)
    assert get_tenant_context(request).tenant == globex
    assert [m.tenant for m in get_memberships(request)] == [globex]


def test_a_user_whose_only_tenant_is_disabled_has_no_context(request_for, alice, acme):
    Tenant.objects.filter(pk=acme.pk).update(state=Tenant.State.DISABLED)
    assert get_tenant_context(request_for(alice, acme.pk)) is None


def test_a_user_without_memberships_has_no_context(request_for, db):
    from tests.factories import UserFactory

    assert get_tenant_context(request_for(UserFactory())) is None


def test_service_admins_have_no_tenant_context(request_for, admin, acme):
    # Even with a stray membership row, a service admin never acts as a tenant member.
    Membership.objects.create(tenant=acme, user=admin, role=Role.OWNER)
    request = request_for(admin, acme.pk)
    assert get_tenant_context(request) is None
    assert get_memberships(request) == []


def test_anonymous_visitors_have_no_tenant_context(request_for, acme):
    assert get_tenant_context(request_for(AnonymousUser(), acme.pk)) is None


def test_the_context_is_resolved_once_per_request(request_for, alice, django_assert_num_queries):
    request = request_for(alice)
    with django_assert_num_queries(1):
        get_tenant_context(request)
        get_tenant_context(request)
        get_memberships(request)


def test_switch_tenant_makes_a_membership_current_and_remembers_it(request_for, alice_in_globex, globex):
    request = request_for(alice_in_globex)
    context = switch_tenant(request, globex.pk)
    assert (context.tenant, context.role) == (globex, Role.READER)
    assert request.session[SESSION_KEY] == str(globex.pk)
    assert get_tenant_context(request) == context


def test_switch_tenant_refuses_a_tenant_the_user_is_not_a_member_of(request_for, alice, acme, globex):
    request = request_for(alice, acme.pk)
    assert switch_tenant(request, globex.pk) is None
    assert request.session[SESSION_KEY] == str(acme.pk)
    assert get_tenant_context(request).tenant == acme


def test_switch_tenant_refuses_a_disabled_tenant(request_for, alice_in_globex, globex):
    Tenant.objects.filter(pk=globex.pk).update(state=Tenant.State.DISABLED)
    assert switch_tenant(request_for(alice_in_globex), globex.pk) is None


def test_switch_tenant_refuses_an_id_that_is_not_a_tenant(request_for, alice):
    assert switch_tenant(request_for(alice), "not-a-uuid") is None


def test_the_context_allows_roles_up_to_its_own(request_for, bob):
    context = get_tenant_context(request_for(bob))
    assert context.allows(Role.READER) and context.allows(Role.OPERATOR)
    assert not context.allows(Role.OWNER)
    context.require(Role.OPERATOR)
    with pytest.raises(PermissionDenied, match="owner role in Acme"):
        context.require(Role.OWNER)


def test_tenant_view_passes_the_context_and_enforces_the_role(request_for, alice, carol, acme):
    @tenant_view(role=Role.OPERATOR)
    def view(request):
        return HttpResponse(request.tenant_context.tenant.name)

    assert view(request_for(alice)).content == b"Acme"
    with pytest.raises(PermissionDenied):
        view(request_for(carol))


def test_for_tenant_keeps_only_that_tenants_rows(acme, globex, acme_subscription, globex_subscription):
    assert list(Subscription.objects.for_tenant(acme)) == [acme_subscription]
    assert list(Subscription.objects.for_tenant(globex)) == [globex_subscription]
    assert not Subscription.objects.for_tenant(acme).filter(pk=globex_subscription.pk).exists()
    assert not Subscription.objects.for_tenant(TenantFactory()).exists()


def test_for_tenant_scopes_the_audit_log(acme, globex):
    AuditEvent.objects.create(tenant=acme, action="a")
    AuditEvent.objects.create(tenant=globex, action="b")
    AuditEvent.objects.create(tenant=None, action="c")
    assert list(AuditEvent.objects.for_tenant(acme).values_list("action", flat=True)) == ["a"]
