"""Users, tenants, memberships, invitations and API tokens, through their services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.errors import Conflict
from portal.models import AuditEvent
from tenants.models import ApiToken, Invitation, Membership, Role, Tenant, hash_secret
from tenants.services import (
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
    invitation_accept,
    invitation_create,
    invitation_for_token,
    invitation_revoke,
    membership_change_role,
    membership_remove,
    tenant_create,
    tenant_set_state,
    user_create,
    user_set_active,
)
from tests.factories import MembershipFactory, UserFactory


def _membership(tenant, user) -> Membership:
    return Membership.objects.get(tenant=tenant, user=user)


def _token(tenant, user, role=Role.READER, days=30) -> tuple[ApiToken, str]:
    return api_token_create(
        tenant=tenant, user=user, name="ci", role=role, expires_in_days=days, actor_role=Role.OWNER
    )


# --- users and tenants --------------------------------------------------------------------


def test_user_create_stores_a_lower_case_email_and_records_it(admin):
    user = user_create(email="  Dave@Example.COM ", password="s3cret-Pass", full_name=" Dave ", actor=admin)
    assert (user.email, user.username, user.full_name) == ("dave@example.com",) * 2 + ("Dave",)
    assert user.check_password("s3cret-Pass")
    event = AuditEvent.objects.get(action="user.create")
    assert (event.actor, event.target_id, event.tenant) == (admin, str(user.pk), None)


def test_user_create_refuses_a_duplicate_email_whatever_its_case(alice):
    with pytest.raises(ValidationError) as exc:
        user_create(email="ALICE@example.com", password="whatever-123")
    assert "email" in exc.value.message_dict


def test_user_create_without_a_password_leaves_it_unusable(db):
    user = user_create(email="nopass@example.com", password=None)
    assert not user.has_usable_password()
    # Signing up records the user as their own actor.
    assert AuditEvent.objects.get(action="user.create").actor == user


def test_user_set_active_refuses_to_deactivate_yourself(admin):
    with pytest.raises(Conflict) as exc:
        user_set_active(user=admin, active=False, actor=admin)
    assert exc.value.code == "self_deactivate"


def test_tenant_create_makes_the_owner_and_unique_slugs(alice, admin):
    first = tenant_create(name="Initech", owner=alice, actor=admin)
    second = tenant_create(name="Initech", owner=None, actor=admin)
    third = tenant_create(name="  INITECH ", owner=None, actor=admin)
    assert [first.slug, second.slug, third.slug] == ["initech", "initech-2", "initech-3"]
    assert _membership(first, alice).role == Role.OWNER
    assert not Membership.objects.filter(tenant=second).exists()
    assert AuditEvent.objects.filter(action="tenant.create", actor=admin).count() == 3


def test_tenant_create_refuses_a_service_admin_owner_and_a_blank_name(admin):
    with pytest.raises(ValidationError) as exc:
        tenant_create(name="Admins Inc", owner=admin, actor=admin)
    assert "owner" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        tenant_create(name="   ", owner=None, actor=admin)
    assert "name" in exc.value.message_dict
    assert not Tenant.objects.exists()


def test_tenant_set_state_to_the_same_state_is_a_conflict(acme, admin):
    tenant_set_state(tenant=acme, state="disabled", actor=admin)
    with pytest.raises(Conflict) as exc:
        tenant_set_state(tenant=acme, state="disabled", actor=admin)
    assert exc.value.code == "same_state"


# --- memberships -----------------------------------------------------------------------------


def test_an_owner_changes_a_members_role_and_it_is_recorded(acme, alice, bob):
    membership = membership_change_role(membership=_membership(acme, bob), role=Role.READER, actor=alice)
    assert membership.role == Role.READER
    event = AuditEvent.objects.get(action="membership.role")
    assert (event.actor, event.tenant, event.data) == (
        alice,
        acme,
        {"user": bob.email, "from": "operator", "to": "reader"},
    )


def test_the_last_owner_cannot_be_demoted(acme, alice):
    with pytest.raises(Conflict) as exc:
        membership_change_role(membership=_membership(acme, alice), role=Role.OPERATOR, actor=alice)
    assert exc.value.code == "last_owner"
    assert _membership(acme, alice).role == Role.OWNER


def test_an_owner_can_step_down_once_there_is_another_owner(acme, alice, bob):
    membership_change_role(membership=_membership(acme, bob), role=Role.OWNER, actor=alice)
    membership_change_role(membership=_membership(acme, alice), role=Role.READER, actor=alice)
    assert list(Membership.objects.filter(tenant=acme, role=Role.OWNER).values_list("user", flat=True)) == [
        bob.pk
    ]


def test_a_stale_owner_membership_still_cannot_leave_the_tenant_ownerless(acme, alice, bob):
    # Two owners demote each other "at once": the second must see the first's change.
    membership_change_role(membership=_membership(acme, bob), role=Role.OWNER, actor=alice)
    alice_m, bob_m = _membership(acme, alice), _membership(acme, bob)
    membership_change_role(membership=alice_m, role=Role.READER, actor=bob)
    with pytest.raises(Conflict):
        membership_change_role(membership=bob_m, role=Role.READER, actor=alice)
    assert Membership.objects.filter(tenant=acme, role=Role.OWNER).count() == 1


def test_an_unknown_role_is_a_validation_error(acme, alice, bob):
    with pytest.raises(ValidationError) as exc:
        membership_change_role(membership=_membership(acme, bob), role="admin", actor=alice)
    assert "role" in exc.value.message_dict


def test_demoting_a_member_lowers_their_tokens_roles(acme, alice, bob):
    token, _ = _token(acme, bob, role=Role.OPERATOR)
    membership_change_role(membership=_membership(acme, bob), role=Role.READER, actor=alice)
    token.refresh_from_db()
    assert token.role == Role.READER


def test_the_last_owner_cannot_be_removed(acme, alice):
    with pytest.raises(Conflict) as exc:
        membership_remove(membership=_membership(acme, alice), actor=alice)
    assert exc.value.code == "last_owner"
    assert Membership.objects.filter(tenant=acme, user=alice).exists()


def test_removing_a_member_revokes_their_tokens_in_that_tenant_only(acme, globex, alice, bob):
    MembershipFactory(tenant=globex, user=bob, role=Role.OPERATOR)
    acme_token, acme_raw = _token(acme, bob)
    globex_token, globex_raw = _token(globex, bob)
    alice_token, _ = _token(acme, alice)
    membership_remove(membership=_membership(acme, bob), actor=alice)
    assert not Membership.objects.filter(tenant=acme, user=bob).exists()
    assert ApiToken.objects.get(pk=acme_token.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=globex_token.pk).revoked_at is None
    assert ApiToken.objects.get(pk=alice_token.pk).revoked_at is None
    assert api_token_authenticate(acme_raw) is None
    assert api_token_authenticate(globex_raw) is not None
    event = AuditEvent.objects.get(action="membership.remove")
    assert (event.actor, event.tenant, event.data) == (alice, acme, {"user": bob.email})


# --- invitations ----------------------------------------------------------------------------


def test_an_invitation_returns_its_raw_token_once_and_stores_only_its_hash(
    acme, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, raw = invitation_create(
            tenant=acme, email=" Dave@Example.com", role=Role.OPERATOR, actor=alice
        )
    invitation.refresh_from_db()
    assert invitation.email == "dave@example.com"
    assert invitation.token_hash == hash_secret(raw)
    assert len(raw) >= 40
    # The raw token is nowhere in the database: not in the row, not in the audit event.
    stored = list(Invitation.objects.values_list().get(pk=invitation.pk))
    assert all(raw not in str(value) for value in stored)
    event = AuditEvent.objects.get(action="invitation.create")
    assert raw not in str(event.data) and event.tenant == acme and event.actor == alice
    # It goes out by mail, once, after the commit.
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["dave@example.com"]
    assert raw in mailoutbox[0].body
    assert invitation_for_token(raw) == invitation


def test_accepting_an_invitation_makes_a_member_with_its_role(acme, alice):
    invitation, raw = invitation_create(
        tenant=acme, email="dave@example.com", role=Role.OPERATOR, actor=alice
    )
    dave = UserFactory(email="dave@example.com")
    membership = invitation_accept(raw_token=raw, user=dave)
    assert (membership.tenant, membership.user, membership.role) == (acme, dave, Role.OPERATOR)
    invitation.refresh_from_db()
    assert (invitation.status, invitation.accepted_by) == ("accepted", dave)
    event = AuditEvent.objects.get(action="invitation.accept")
    assert (event.actor, event.tenant, event.target_id) == (dave, acme, str(invitation.pk))


def test_an_accepted_invitation_cannot_be_used_again(acme, alice):
    _, raw = invitation_create(tenant=acme, email="dave@example.com", role=Role.READER, actor=alice)
    invitation_accept(raw_token=raw, user=UserFactory(email="dave@example.com"))
    with pytest.raises(Conflict) as exc:
        invitation_accept(raw_token=raw, user=UserFactory(email="eve@example.com"))
    assert exc.value.code == "invitation_accepted"
    assert not Membership.objects.filter(user__email="eve@example.com").exists()


def test_an_expired_invitation_is_refused(acme, alice):
    invitation, raw = invitation_create(tenant=acme, email="dave@example.com", role=Role.READER, actor=alice)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict) as exc:
        invitation_accept(raw_token=raw, user=UserFactory(email="dave@example.com"))
    assert exc.value.code == "invitation_expired"
    assert not Membership.objects.filter(user__email="dave@example.com").exists()


def test_a_revoked_invitation_is_refused(acme, alice):
    invitation, raw = invitation_create(tenant=acme, email="dave@example.com", role=Role.READER, actor=alice)
    invitation_revoke(invitation=invitation, actor=alice)
    assert AuditEvent.objects.get(action="invitation.revoke").actor == alice
    with pytest.raises(Conflict) as exc:
        invitation_accept(raw_token=raw, user=UserFactory(email="dave@example.com"))
    assert exc.value.code == "invitation_revoked"
    with pytest.raises(Conflict):
        invitation_revoke(invitation=invitation, actor=alice)


def test_an_unknown_invitation_token_is_a_validation_error(alice):
    with pytest.raises(ValidationError):
        invitation_accept(raw_token="not-a-real-token", user=alice)


def test_accepting_when_already_a_member_is_a_conflict_and_leaves_the_invitation_open(acme, alice, bob):
    invitation, raw = invitation_create(
        tenant=acme, email="someone@example.com", role=Role.OWNER, actor=alice
    )
    with pytest.raises(Conflict) as exc:
        invitation_accept(raw_token=raw, user=bob)
    assert exc.value.code == "already_member"
    assert _membership(acme, bob).role == Role.OPERATOR  # not promoted by the link
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_a_service_admin_cannot_join_a_tenant(acme, alice, admin):
    _, raw = invitation_create(tenant=acme, email=admin.email, role=Role.READER, actor=alice)
    with pytest.raises(ValidationError):
        invitation_accept(raw_token=raw, user=admin)
    assert not Membership.objects.filter(user=admin).exists()


def test_inviting_a_member_or_someone_already_invited_is_refused(acme, alice, bob):
    with pytest.raises(ValidationError) as exc:
        invitation_create(tenant=acme, email="BOB@example.com", role=Role.READER, actor=alice)
    assert "email" in exc.value.message_dict
    invitation_create(tenant=acme, email="dave@example.com", role=Role.READER, actor=alice)
    with pytest.raises(ValidationError) as exc:
        invitation_create(tenant=acme, email="dave@example.com", role=Role.READER, actor=alice)
    assert "email" in exc.value.message_dict


def test_an_invitation_with_an_unknown_role_is_refused(acme, alice):
    with pytest.raises(ValidationError) as exc:
        invitation_create(tenant=acme, email="dave@example.com", role="superuser", actor=alice)
    assert "role" in exc.value.message_dict


# --- API tokens -----------------------------------------------------------------------------


def test_a_token_is_shown_once_and_stored_hashed(acme, bob):
    token, raw = api_token_create(
        tenant=acme,
        user=bob,
        name=" deploy bot ",
        role=Role.OPERATOR,
        expires_in_days=30,
        actor_role=Role.OPERATOR,
    )
    token.refresh_from_db()
    assert raw.startswith("cst_")
    assert token.key_hash == hash_secret(raw)
    assert raw.startswith(token.prefix) and len(token.prefix) < len(raw) // 2
    assert all(raw not in str(value) for value in ApiToken.objects.values_list().get(pk=token.pk))
    assert token.name == "deploy bot"
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    event = AuditEvent.objects.get(action="api_token.create")
    assert (event.actor, event.tenant, event.target_id) == (bob, acme, str(token.pk))
    assert raw not in str(event.data)


@pytest.mark.parametrize(
    ("actor_role", "role", "allowed"),
    [
        (Role.OPERATOR, Role.OWNER, False),
        (Role.READER, Role.OPERATOR, False),
        (Role.OPERATOR, Role.OPERATOR, True),
        (Role.OPERATOR, Role.READER, True),
        (Role.OWNER, Role.OWNER, True),
    ],
)
def test_a_tokens_role_cannot_exceed_its_creators_role(acme, bob, actor_role, role, allowed):
    create = lambda: api_token_create(  # noqa: E731
        tenant=acme, user=bob, name="t", role=role, expires_in_days=7, actor_role=actor_role
    )
    if allowed:
        assert create()[0].role == role
    else:
        with pytest.raises(ValidationError) as exc:
            create()
        assert "role" in exc.value.message_dict
        assert not ApiToken.objects.exists()


@pytest.mark.parametrize(("days", "allowed"), [(0, False), (-5, False), (1, True), (365, True), (366, False)])
def test_a_tokens_lifetime_is_between_one_day_and_the_maximum(acme, bob, days, allowed):
    if allowed:
        assert _token(acme, bob, days=days)
    else:
        with pytest.raises(ValidationError) as exc:
            _token(acme, bob, days=days)
        assert "expires_in_days" in exc.value.message_dict


def test_a_token_with_an_unknown_role_or_no_name_is_refused(acme, bob):
    with pytest.raises(ValidationError) as exc:
        _token(acme, bob, role="root")
    assert "role" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        api_token_create(
            tenant=acme, user=bob, name="  ", role=Role.READER, expires_in_days=7, actor_role=Role.OWNER
        )
    assert "name" in exc.value.message_dict


def test_a_valid_token_authenticates_with_its_users_role_and_records_last_use(acme, bob):
    token, raw = _token(acme, bob)
    found = api_token_authenticate(raw)
    assert found is not None
    found_token, role = found
    assert (found_token, role) == (token, _membership(acme, bob).role)
    assert isinstance(role, Role)
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_a_token_authenticates_with_its_tenant_user_and_role_in_one_query(
    acme, bob, django_assert_num_queries
):
    _, raw = _token(acme, bob)
    api_token_authenticate(raw)  # the first use writes last_used_at
    with django_assert_num_queries(1):
        found_token, role = api_token_authenticate(raw)
        assert (found_token.tenant.name, found_token.user.email, role) == (
            acme.name,
            bob.email,
            Role.OPERATOR,
        )


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@pytest.mark.parametrize("compiled_once", [True, False])
def test_the_token_its_tenant_and_user_are_loaded_as_the_orm_loads_them(
    acme, bob, monkeypatch, compiled_once
):
    from django.db import connection

    from portal import compiled
    from tenants import services

    if not compiled_once:
        monkeypatch.setattr(services, "compile_once", lambda *args, **kwargs: None)
    token, raw = _token(acme, bob)
    api_token_authenticate(raw)
    found, role = api_token_authenticate(raw)
    assert _fields(found) == _fields(ApiToken.objects.get(pk=token.pk))
    assert _fields(found.tenant) == _fields(Tenant.objects.get(pk=acme.pk))
    assert _fields(found.user) == _fields(type(bob).objects.get(pk=bob.pk))
    assert (found._state.adding, found.user._state.adding, role) == (False, False, Role.OPERATOR)
    if compiled_once:  # the SQL was compiled once and reused, not the ORM's fallback
        assert compiled._compiled[("api_token_authenticate", connection.alias, connection.vendor)]


def test_the_role_is_the_users_current_one_not_the_tokens(acme, bob):
    _, raw = _token(acme, bob)
    Membership.objects.filter(tenant=acme, user=bob).update(role=Role.READER)
    assert api_token_authenticate(raw)[1] == Role.READER


def test_an_expired_token_does_not_authenticate(acme, bob):
    token, raw = _token(acme, bob)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_token_authenticate(raw) is None


def test_a_revoked_token_does_not_authenticate(acme, bob):
    token, raw = _token(acme, bob)
    api_token_revoke(token=token, actor=bob)
    assert api_token_authenticate(raw) is None
    with pytest.raises(Conflict):
        api_token_revoke(token=token, actor=bob)


@pytest.mark.parametrize("raw", ["", "cst_unknown", "nope", "cst_" + "x" * 200])
def test_an_unknown_token_does_not_authenticate(acme, bob, raw):
    _token(acme, bob)
    assert api_token_authenticate(raw) is None


def test_a_token_of_an_inactive_user_does_not_authenticate(acme, alice, bob, admin):
    _, raw = _token(acme, bob)
    user_set_active(user=bob, active=False, actor=admin)
    assert api_token_authenticate(raw) is None


def test_a_token_of_a_disabled_tenant_does_not_authenticate(acme, bob, admin):
    _, raw = _token(acme, bob)
    tenant_set_state(tenant=acme, state="disabled", actor=admin)
    assert api_token_authenticate(raw) is None
    tenant_set_state(tenant=acme, state="active", actor=admin)
    assert api_token_authenticate(raw) is not None


def test_a_token_of_a_user_no_longer_a_member_does_not_authenticate(acme, bob):
    # Even if the membership went without membership_remove revoking the token.
    _, raw = _token(acme, bob)
    Membership.objects.filter(tenant=acme, user=bob).delete()
    assert api_token_authenticate(raw) is None


def test_last_used_is_written_at_most_once_a_minute(acme, bob, django_assert_num_queries):
    token, raw = _token(acme, bob)
    api_token_authenticate(raw)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    with django_assert_num_queries(1):  # the token with its role; no UPDATE
        api_token_authenticate(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    # A minute and a bit later it is written again.
    stale = timezone.now() - timedelta(minutes=1, seconds=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    with django_assert_num_queries(2):  # and the UPDATE
        api_token_authenticate(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > stale


def test_a_token_cannot_be_created_for_someone_outside_the_tenant(acme, charlie):
    from django.core.exceptions import PermissionDenied

    from tenants.services import api_token_create

    with pytest.raises(PermissionDenied):
        api_token_create(
            tenant=acme, user=charlie, name="sneaky", role="reader", expires_in_days=7, actor_role="owner"
        )
