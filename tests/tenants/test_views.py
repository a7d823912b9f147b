"""Tenant portal pages: dashboard, switching and creating tenants, team, invitations, API
tokens and activity. Alice owns Acme, bob operates it, carol reads it; charlie owns Globex."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.audit import audit_record
from portal.models import AuditEvent
from portal.tenancy import SESSION_KEY
from subscriptions.models import Subscription, SubscriptionAddOn
from subscriptions.quota import Demand
from subscriptions.services import quota_reserve
from tenants.models import ApiToken, Invitation, Membership, Role, Tenant, User
from tenants.services import api_token_create, invitation_create
from tests.factories import (
    AddOnFactory,
    MembershipFactory,
    PlanFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- dashboard --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "carol"])
def test_the_dashboard_renders_for_every_role(request, who, acme_subscription):
    user = request.getfixturevalue(who)
    response = client_for(user).get(reverse("tenants:dashboard"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Acme production" in body
    assert 'data-width="' in body  # quota bars


def test_the_dashboard_shows_quota_bars_with_usage(client_alice, acme_subscription):
    with transaction.atomic():
        quota_reserve(subscription=acme_subscription, demand=Demand(vms=3, vcpus=6), resource_type="test")
    body = client_alice.get(reverse("tenants:dashboard")).content.decode()
    assert "3 / 10" in body  # VMs
    assert "6 / 20" in body  # vCPUs
    assert 'data-width="30"' in body


def test_the_dashboard_offers_to_subscribe_when_there_is_no_subscription(client_alice):
    body = client_alice.get(reverse("tenants:dashboard")).content.decode()
    assert "No subscriptions yet" in body
    assert f'href="{reverse("subscriptions:plans")}">Subscribe to a plan' in body


def test_a_reader_sees_no_subscribe_button_on_the_dashboard(carol):
    body = client_for(carol).get(reverse("tenants:dashboard")).content.decode()
    assert "Subscribe to a plan" not in body
    assert "See the plans" in body


def test_a_suspended_subscription_warns_that_new_deployments_are_blocked(client_alice, acme_subscription):
    Subscription.objects.filter(pk=acme_subscription.pk).update(state=Subscription.State.SUSPENDED)
    body = client_alice.get(reverse("tenants:dashboard")).content.decode()
    assert "New deployments are blocked" in body
    assert "border-warning" in body


def test_the_dashboard_leaves_out_cancelled_subscriptions(client_alice, acme_subscription):
    Subscription.objects.filter(pk=acme_subscription.pk).update(state=Subscription.State.CANCELLED)
    assert "Acme production" not in client_alice.get(reverse("tenants:dashboard")).content.decode()


def test_the_dashboard_counts_members_and_tokens_and_shows_recent_activity(
    client_alice, alice, bob, carol, acme
):
    api_token_create(
        tenant=acme, user=alice, name="ci", role=Role.READER, expires_in_days=7, actor_role=Role.OWNER
    )
    response = client_alice.get(reverse("tenants:dashboard"))
    assert response.context["counts"] == {"members": 3, "invitations": 0, "tokens": 1}
    assert [e.action for e in response.context["recent"]] == ["api_token.create"]


def test_the_dashboard_shows_only_the_five_latest_events(client_alice, alice, acme, globex):
    for n in range(7):
        audit_record(actor=alice, tenant=acme, action=f"test.event{n}")
    audit_record(actor=alice, tenant=globex, action="test.elsewhere")
    recent = client_alice.get(reverse("tenants:dashboard")).context["recent"]
    assert [e.action for e in recent] == [f"test.event{n}" for n in (6, 5, 4, 3, 2)]


def _dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("tenants:dashboard"))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _add_subscriptions(tenant, count: int) -> None:
    for _ in range(count):
        plan = PlanFactory()
        subscription = SubscriptionFactory(tenant=tenant, plan=plan)
        SubscriptionAddOn.objects.create(
            subscription=subscription, addon=AddOnFactory(plans=[plan]), quantity=2
        )
        with transaction.atomic():
            quota_reserve(subscription=subscription, demand=Demand(vms=1, vcpus=2), resource_type="test")


def test_the_dashboard_runs_the_same_number_of_queries_for_2_or_20_subscriptions(client_alice, acme):
    _add_subscriptions(acme, 2)
    with_two = _dashboard_queries(client_alice)
    _add_subscriptions(acme, 18)
    # A suspended one renders its notice without costing a query either.
    Subscription.objects.filter(pk=Subscription.objects.filter(tenant=acme).first().pk).update(
        state=Subscription.State.SUSPENDED
    )
    with_twenty = _dashboard_queries(client_alice)
    assert with_twenty == with_two
    assert with_two <= 12


def _subscriptions_using(tenant, plan, vms_used: list[int]) -> list[Subscription]:
    made = []
    for n, vms in enumerate(vms_used):
        subscription = SubscriptionFactory(tenant=tenant, plan=plan, name=f"Sub {n:02d}")
        if vms:
            with transaction.atomic():
                quota_reserve(subscription=subscription, demand=Demand(vms=vms), resource_type="test")
        made.append(subscription)
    return made


def test_the_dashboard_shows_twelve_cards_suspended_first_then_the_fullest(client_alice, acme):
    plan = PlanFactory(name="Roomy", vms=20, max_subscriptions_per_tenant=100)
    _subscriptions_using(acme, plan, list(range(14)))  # Sub 00 uses nothing, Sub 13 the most
    paused = SubscriptionFactory(tenant=acme, plan=plan, name="Paused", state=Subscription.State.SUSPENDED)
    SubscriptionFactory(tenant=acme, plan=plan, name="Gone", state=Subscription.State.CANCELLED)
    response = client_alice.get(reverse("tenants:dashboard"))
    names = [card["subscription"].name for card in response.context["cards"]]
    assert names == ["Paused"] + [f"Sub {n:02d}" for n in range(13, 2, -1)]
    assert response.context["live_count"] == 15
    body = response.content.decode()
    assert f'href="{reverse("subscriptions:list")}">View all 15 subscriptions' in body
    assert "12 of 15" in body
    assert f'href="{reverse("subscriptions:detail", args=[paused.pk])}"' in body
    assert "Sub 02" not in body and "Gone" not in body


def test_the_dashboard_cards_show_each_subscriptions_own_figures(client_alice, acme):
    plan = PlanFactory(name="Roomy", vms=20)
    _subscriptions_using(acme, plan, [3, 7])
    cards = client_alice.get(reverse("tenants:dashboard")).context["cards"]
    assert [(c["subscription"].name, c["subscription"].plan.name) for c in cards] == [
        ("Sub 01", "Roomy"),
        ("Sub 00", "Roomy"),
    ]
    assert [(c["rows"][0]["used"], c["rows"][0]["limit"]) for c in cards] == [(7, 20), (3, 20)]


def test_the_dashboard_links_to_the_full_list_only_when_it_leaves_some_out(client_alice, acme):
    plan = PlanFactory(name="Roomy", vms=20, max_subscriptions_per_tenant=100)
    _subscriptions_using(acme, plan, [0] * 12)
    body = client_alice.get(reverse("tenants:dashboard")).content.decode()
    assert "View all" not in body.split('id="subs-title"')[1].split("</section>")[0]
    _subscriptions_using(acme, plan, [0])
    assert "View all 13 subscriptions" in client_alice.get(reverse("tenants:dashboard")).content.decode()


def test_quota_figures_are_never_locale_formatted(client_alice, acme, settings):
    settings.USE_THOUSAND_SEPARATOR = True
    plan = PlanFactory(name="Huge", vms=2000, disk_gib=123456)
    _subscriptions_using(acme, plan, [1500])
    body = client_alice.get(reverse("tenants:dashboard")).content.decode()
    assert 'aria-valuenow="1500"' in body and 'aria-valuemax="2000"' in body
    assert 'data-width="75"' in body
    assert "1500 / 2000" in body and "0 / 123456" in body
    assert "1,500" not in body and "123,456" not in body


def test_a_user_without_a_tenant_is_sent_to_onboarding(db):
    loner = UserFactory(email="loner@example.com")
    response = client_for(loner).get(reverse("tenants:dashboard"))
    assert response.url == reverse("tenants:onboarding")


def test_the_dashboard_asks_anonymous_visitors_to_sign_in(client):
    response = client.get(reverse("tenants:dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# --- switching and creating tenants ---------------------------------------------------------


@pytest.fixture
def alice_in_globex(alice, globex):
    return MembershipFactory(tenant=globex, user=alice, role=Role.READER)


def test_alice_switches_to_another_of_her_tenants(client_alice, alice_in_globex, globex):
    response = client_alice.post(reverse("tenants:switch"), {"tenant": str(globex.pk), "next": "/team/"})
    assert response.url == "/team/"
    assert client_alice.session[SESSION_KEY] == str(globex.pk)
    page = client_alice.get("/team/")
    assert page.context["tenant_context"].tenant == globex
    assert page.context["tenant_context"].role == Role.READER
    assert "You are now working in Globex." in messages_of(page)


def test_switching_to_a_tenant_she_is_not_in_is_404(client_alice, globex, acme):
    response = client_alice.post(reverse("tenants:switch"), {"tenant": str(globex.pk), "next": "/team/"})
    assert response.status_code == 404
    assert client_alice.get("/team/").context["tenant_context"].tenant == acme


def test_switching_ignores_a_next_on_another_site(client_alice, alice_in_globex, globex):
    response = client_alice.post(
        reverse("tenants:switch"), {"tenant": str(globex.pk), "next": "https://evil.example/phish"}
    )
    assert response.url == reverse("tenants:dashboard")


def test_switching_from_an_object_page_lands_on_the_dashboard(
    client_alice, alice_in_globex, globex, acme_subscription
):
    detail = reverse("subscriptions:detail", args=[acme_subscription.pk])
    response = client_alice.post(reverse("tenants:switch"), {"tenant": str(globex.pk), "next": detail})
    assert response.url == reverse("tenants:dashboard")


def test_switching_is_post_only(client_alice):
    assert client_alice.get(reverse("tenants:switch")).status_code == 405


def test_any_member_creates_another_tenant_they_own(carol):
    client = client_for(carol)
    assert client.get(reverse("tenants:create")).status_code == 200
    response = client.post(reverse("tenants:create"), {"name": "Carol's Side Project"})
    assert response.url == reverse("tenants:dashboard")
    tenant = Tenant.objects.get(name="Carol's Side Project")
    assert Membership.objects.get(tenant=tenant, user=carol).role == Role.OWNER
    assert client.get(response.url).context["tenant_context"].tenant == tenant


def test_creating_a_tenant_without_a_name_keeps_the_form(client_alice):
    response = client_alice.post(reverse("tenants:create"), {"name": "   "})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()


def test_onboarding_lets_a_user_without_tenant_create_one(db):
    loner = UserFactory(email="loner@example.com")
    client = client_for(loner)
    body = client.get(reverse("tenants:onboarding")).content.decode()
    assert "Start your own organisation" in body
    assert "Joining a team?" in body
    response = client.post(reverse("tenants:onboarding"), {"name": "Loner Inc"})
    assert response.url == reverse("tenants:dashboard")
    assert Membership.objects.get(user=loner).tenant.name == "Loner Inc"


def test_onboarding_only_explains_invitations_when_signup_is_closed(db, settings):
    settings.SIGNUP_ENABLED = False
    loner = UserFactory(email="loner@example.com")
    client = client_for(loner)
    body = client.get(reverse("tenants:onboarding")).content.decode()
    assert "Start your own organisation" not in body
    assert "invites you by e-mail" in body
    assert client.post(reverse("tenants:onboarding"), {"name": "Sneaky"}).status_code == 403
    assert not Tenant.objects.filter(name="Sneaky").exists()


def test_onboarding_sends_members_to_their_dashboard(client_alice):
    assert client_alice.get(reverse("tenants:onboarding")).url == reverse("tenants:dashboard")


# --- team ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "carol"])
def test_the_team_page_lists_members_for_every_role(request, who, alice, bob, carol):
    user = request.getfixturevalue(who)
    response = client_for(user).get(reverse("tenants:team"))
    assert response.status_code == 200
    body = response.content.decode()
    for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
        assert email in body
    owner_controls = 'name="role"' in body and "Send invitation" in body
    assert owner_controls == (who == "alice")


def test_the_team_page_searches_members(client_alice, bob, carol):
    response = client_alice.get(reverse("tenants:team"), {"q": "carol"})
    assert [m.user.email for m in response.context["page_obj"]] == ["carol@example.com"]


def test_the_owner_changes_a_members_role(client_alice, bob, acme):
    membership = Membership.objects.get(user=bob, tenant=acme)
    response = client_alice.post(reverse("tenants:member_role", args=[membership.pk]), {"role": "reader"})
    assert response.url == reverse("tenants:team")
    membership.refresh_from_db()
    assert membership.role == Role.READER
    assert AuditEvent.objects.filter(action="membership.role", tenant=acme).exists()


def test_the_last_owner_cannot_step_down(client_alice, alice, acme):
    membership = Membership.objects.get(user=alice, tenant=acme)
    response = client_alice.post(
        reverse("tenants:member_role", args=[membership.pk]), {"role": "reader"}, follow=True
    )
    assert "at least one owner" in " ".join(messages_of(response))
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_an_unknown_role_is_refused_with_a_message(client_alice, bob, acme):
    membership = Membership.objects.get(user=bob, tenant=acme)
    response = client_alice.post(
        reverse("tenants:member_role", args=[membership.pk]), {"role": "god"}, follow=True
    )
    assert "Role must be one of" in " ".join(messages_of(response))
    membership.refresh_from_db()
    assert membership.role == Role.OPERATOR


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_only_owners_change_roles(request, who, alice, acme):
    membership = Membership.objects.get(user=alice, tenant=acme)
    client = client_for(request.getfixturevalue(who))
    response = client.post(reverse("tenants:member_role", args=[membership.pk]), {"role": "reader"})
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_another_tenants_membership_is_404_for_role_changes_and_removal(client_charlie, bob, acme):
    membership = Membership.objects.get(user=bob, tenant=acme)
    assert (
        client_charlie.post(
            reverse("tenants:member_role", args=[membership.pk]), {"role": "owner"}
        ).status_code
        == 404
    )
    assert client_charlie.post(reverse("tenants:member_remove", args=[membership.pk])).status_code == 404
    membership.refresh_from_db()
    assert membership.role == Role.OPERATOR


def test_a_reader_of_another_tenant_gets_404_not_403(carol, globex):
    """The ownership check comes before the role check, so a reader learns nothing either."""
    victim = MembershipFactory(tenant=globex, user=UserFactory(), role=Role.READER)
    response = client_for(carol).post(reverse("tenants:member_remove", args=[victim.pk]))
    assert response.status_code == 404


def test_the_owner_removes_a_member_and_their_tokens_stop(client_alice, bob, acme):
    token, _ = api_token_create(
        tenant=acme, user=bob, name="bob-ci", role=Role.OPERATOR, expires_in_days=7, actor_role=Role.OPERATOR
    )
    membership = Membership.objects.get(user=bob, tenant=acme)
    response = client_alice.post(reverse("tenants:member_remove", args=[membership.pk]), follow=True)
    assert "no longer has access" in " ".join(messages_of(response))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_reader_cannot_remove_others(carol, bob, acme):
    membership = Membership.objects.get(user=bob, tenant=acme)
    assert client_for(carol).post(reverse("tenants:member_remove", args=[membership.pk])).status_code == 403
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_a_reader_leaves_the_tenant(carol, acme):
    client = client_for(carol)
    membership = Membership.objects.get(user=carol, tenant=acme)
    response = client.post(reverse("tenants:member_remove", args=[membership.pk]))
    assert response.url == reverse("home")
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert client.get(reverse("tenants:dashboard")).url == reverse("tenants:onboarding")


def test_the_last_owner_cannot_leave(client_alice, alice, acme):
    membership = Membership.objects.get(user=alice, tenant=acme)
    response = client_alice.post(reverse("tenants:member_remove", args=[membership.pk]), follow=True)
    assert "last owner cannot leave" in " ".join(messages_of(response))
    assert Membership.objects.filter(pk=membership.pk).exists()


# --- invitations -------------------------------------------------------------------------------


def _link_in(response) -> str:
    match = re.search(r"(/invitations/[\w-]+/)", response.content.decode())
    assert match, "the invitation link is shown after creating it"
    return match.group(1)


def test_the_owner_invites_and_sees_the_link_once(client_alice, acme):
    response = client_alice.post(
        reverse("tenants:invitation_create"), {"email": "New@Example.com", "role": "operator"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    link = _link_in(response)
    assert 'data-copy-target="new-invitation-link"' in response.content.decode()
    invitation = Invitation.objects.get(tenant=acme)
    assert invitation.email == "new@example.com"
    assert invitation.role == Role.OPERATOR
    later = client_alice.get(reverse("tenants:team")).content.decode()
    assert "new@example.com" in later
    assert link not in later


def test_an_invitation_error_keeps_what_was_typed(client_alice, bob):
    response = client_alice.post(
        reverse("tenants:invitation_create"), {"email": "bob@example.com", "role": "operator"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "is already a member" in body
    assert 'value="bob@example.com"' in body
    assert '<option value="operator" selected>' in body
    assert "is-invalid" in body


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_only_owners_invite(request, who):
    client = client_for(request.getfixturevalue(who))
    response = client.post(reverse("tenants:invitation_create"), {"email": "x@example.com", "role": "owner"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_the_owner_revokes_an_invitation(client_alice, alice, acme):
    invitation, raw = invitation_create(tenant=acme, email="x@example.com", role=Role.READER, actor=alice)
    response = client_alice.post(reverse("tenants:invitation_revoke", args=[invitation.pk]), follow=True)
    assert "revoked" in " ".join(messages_of(response))
    invitation.refresh_from_db()
    assert invitation.status == "revoked"
    page = client_alice.get(reverse("tenants:invitation", args=[raw])).content.decode()
    assert "withdrawn" in page


def test_revoking_needs_the_owner_role_and_the_own_tenant(alice, carol, charlie, acme):
    invitation, _ = invitation_create(tenant=acme, email="x@example.com", role=Role.READER, actor=alice)
    url = reverse("tenants:invitation_revoke", args=[invitation.pk])
    assert client_for(carol).post(url).status_code == 403
    assert client_for(charlie).post(url).status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_an_invitation_goes_from_alice_to_a_new_user_end_to_end(client_alice, acme):
    link = _link_in(
        client_alice.post(
            reverse("tenants:invitation_create"), {"email": "erin@example.com", "role": "operator"}
        )
    )

    visitor = Client()
    page = visitor.get(link)
    body = page.content.decode()
    assert "Join Acme" in body
    assert "Operator" in body
    assert f"{reverse('login')}?next={link}" in body
    assert f"{reverse('signup')}?next={link}" in body

    signup = visitor.get(f"{reverse('signup')}?next={link}")
    assert "tenant_name" not in signup.content.decode()  # joining a team, not founding one
    assert 'value="erin@example.com"' in signup.content.decode()
    response = visitor.post(
        reverse("signup"),
        {
            "full_name": "Erin New",
            "email": "erin@example.com",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
            "next": link,
        },
    )
    assert response.url == link
    erin = User.objects.get(email="erin@example.com")
    assert not Membership.objects.filter(user=erin).exists()

    assert "Accept and join Acme" in visitor.get(link).content.decode()
    response = visitor.post(link)
    assert response.url == reverse("tenants:dashboard")
    assert Membership.objects.get(user=erin).tenant == acme
    assert Membership.objects.get(user=erin).role == Role.OPERATOR
    dashboard = visitor.get(response.url)
    assert dashboard.context["tenant_context"].tenant == acme
    assert "Welcome to Acme" in " ".join(messages_of(dashboard))
    assert Tenant.objects.count() == 1

    # Single use: the link is now spent.
    assert "already used" in visitor.get(link).content.decode()


def test_an_existing_user_signs_in_from_the_invitation_and_accepts(alice, charlie, acme):
    _, raw = invitation_create(tenant=acme, email=charlie.email, role=Role.READER, actor=alice)
    link = reverse("tenants:invitation", args=[raw])
    visitor = Client()
    response = visitor.post(
        reverse("login"), {"username": charlie.email, "password": "password", "next": link}
    )
    assert response.url == link
    visitor.post(link)
    assert Membership.objects.get(user=charlie, tenant=acme).role == Role.READER


def test_an_expired_invitation_is_refused(alice, acme):
    invitation, raw = invitation_create(tenant=acme, email="late@example.com", role=Role.READER, actor=alice)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    late = UserFactory(email="late@example.com")
    client = client_for(late)
    link = reverse("tenants:invitation", args=[raw])
    page = client.get(link).content.decode()
    assert "expired" in page
    assert "Accept and join" not in page
    response = client.post(link, follow=True)
    assert "This invitation is expired." in " ".join(messages_of(response))
    assert not Membership.objects.filter(user=late).exists()


def test_an_unknown_invitation_link_is_404(client):
    response = client.get(reverse("tenants:invitation", args=["not-a-real-token"]))
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_an_anonymous_post_to_an_invitation_asks_to_sign_in(alice, acme, client):
    _, raw = invitation_create(tenant=acme, email="x@example.com", role=Role.READER, actor=alice)
    response = client.post(reverse("tenants:invitation", args=[raw]))
    assert response.url.startswith(reverse("login"))
    assert not Membership.objects.filter(user__email="x@example.com").exists()


def test_the_invitation_page_creates_no_session_for_anonymous_visitors(alice, acme, client):
    from django.conf import settings

    _, raw = invitation_create(tenant=acme, email="x@example.com", role=Role.READER, actor=alice)
    response = client.get(reverse("tenants:invitation", args=[raw]))
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies


def test_a_member_opening_an_invitation_is_told_they_are_in(client_alice, alice, acme):
    _, raw = invitation_create(tenant=acme, email="x@example.com", role=Role.READER, actor=alice)
    body = client_alice.get(reverse("tenants:invitation", args=[raw])).content.decode()
    assert "already a member" in body
    assert "Accept and join" not in body


# --- API tokens ------------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_then_only_its_prefix(client_alice, acme):
    response = client_alice.post(
        reverse("tenants:tokens"), {"name": "deploy", "role": "operator", "expires_in_days": "30"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    secret = re.search(r'id="new-token-secret">(cst_[\w-]+)<', body).group(1)
    assert 'data-copy-target="new-token-secret"' in body
    token = ApiToken.objects.get(tenant=acme)
    assert token.name == "deploy" and token.role == Role.OPERATOR
    assert secret.startswith(token.prefix)
    later = client_alice.get(reverse("tenants:tokens")).content.decode()
    assert secret not in later
    assert token.prefix in later


def test_a_token_form_error_keeps_what_was_typed(client_alice):
    response = client_alice.post(
        reverse("tenants:tokens"), {"name": "", "role": "reader", "expires_in_days": "90"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "This field is required." in body
    assert '<option value="90" selected>' in body
    assert not ApiToken.objects.exists()


def test_an_operator_creates_tokens_up_to_their_role_only(bob):
    client = client_for(bob)
    form = client.get(reverse("tenants:tokens")).context["form"]
    assert [value for value, _ in form.fields["role"].choices] == ["reader", "operator"]
    response = client.post(reverse("tenants:tokens"), {"name": "x", "role": "owner", "expires_in_days": "7"})
    assert "is-invalid" in response.content.decode()
    assert not ApiToken.objects.exists()
    client.post(reverse("tenants:tokens"), {"name": "x", "role": "operator", "expires_in_days": "7"})
    assert ApiToken.objects.get().role == Role.OPERATOR


def test_a_reader_sees_tokens_but_cannot_create_one(carol):
    client = client_for(carol)
    response = client.get(reverse("tenants:tokens"))
    assert response.status_code == 200
    assert response.context["form"] is None
    assert "Create token" not in response.content.decode()
    response = client.post(reverse("tenants:tokens"), {"name": "x", "role": "reader", "expires_in_days": "7"})
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_owners_see_every_token_and_others_their_own(alice, bob, acme):
    api_token_create(
        tenant=acme, user=alice, name="alice-token", role=Role.OWNER, expires_in_days=7, actor_role=Role.OWNER
    )
    api_token_create(
        tenant=acme,
        user=bob,
        name="bob-token",
        role=Role.OPERATOR,
        expires_in_days=7,
        actor_role=Role.OPERATOR,
    )
    alice_page = client_for(alice).get(reverse("tenants:tokens")).content.decode()
    bob_page = client_for(bob).get(reverse("tenants:tokens")).content.decode()
    assert "alice-token" in alice_page and "bob-token" in alice_page
    assert "bob-token" in bob_page and "alice-token" not in bob_page


def test_a_member_revokes_their_own_token(bob, acme):
    token, _ = api_token_create(
        tenant=acme,
        user=bob,
        name="bob-token",
        role=Role.OPERATOR,
        expires_in_days=7,
        actor_role=Role.OPERATOR,
    )
    response = client_for(bob).post(reverse("tenants:token_revoke", args=[token.pk]), follow=True)
    assert "revoked" in " ".join(messages_of(response))
    token.refresh_from_db()
    assert token.status == "revoked"


def test_revoking_someone_elses_token_needs_the_owner_role(alice, bob, acme):
    token, _ = api_token_create(
        tenant=acme, user=alice, name="alice-token", role=Role.OWNER, expires_in_days=7, actor_role=Role.OWNER
    )
    assert client_for(bob).post(reverse("tenants:token_revoke", args=[token.pk])).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    bobs, _ = api_token_create(
        tenant=acme, user=bob, name="bob-token", role=Role.READER, expires_in_days=7, actor_role=Role.OPERATOR
    )
    client_for(alice).post(reverse("tenants:token_revoke", args=[bobs.pk]))
    bobs.refresh_from_db()
    assert bobs.revoked_at is not None


def test_another_tenants_token_is_404(client_charlie, alice, acme):
    token, _ = api_token_create(
        tenant=acme, user=alice, name="alice-token", role=Role.OWNER, expires_in_days=7, actor_role=Role.OWNER
    )
    assert client_charlie.post(reverse("tenants:token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoking_twice_says_it_is_already_revoked(client_alice, alice, acme):
    token, _ = api_token_create(
        tenant=acme, user=alice, name="t", role=Role.OWNER, expires_in_days=7, actor_role=Role.OWNER
    )
    client_alice.post(reverse("tenants:token_revoke", args=[token.pk]))
    response = client_alice.post(reverse("tenants:token_revoke", args=[token.pk]), follow=True)
    assert "already revoked" in " ".join(messages_of(response))


# --- activity --------------------------------------------------------------------------------------


def test_activity_shows_this_tenants_events_newest_first(client_alice, alice, charlie, acme, globex):
    audit_record(actor=alice, tenant=acme, action="test.first")
    audit_record(actor=alice, tenant=acme, action="test.second")
    audit_record(actor=charlie, tenant=globex, action="test.globex")
    response = client_alice.get(reverse("tenants:activity"))
    assert [e.action for e in response.context["page_obj"]] == ["test.second", "test.first"]
    assert "test.globex" not in response.content.decode()


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_activity_renders_for_every_role(request, who, alice, acme):
    audit_record(actor=alice, tenant=acme, action="test.visible")
    assert (
        "test.visible"
        in client_for(request.getfixturevalue(who)).get(reverse("tenants:activity")).content.decode()
    )


def test_activity_filters_by_action_and_actor(client_alice, alice, bob, acme):
    audit_record(actor=alice, tenant=acme, action="test.a")
    audit_record(actor=bob, tenant=acme, action="test.a")
    audit_record(actor=bob, tenant=acme, action="test.b")
    page = client_alice.get(reverse("tenants:activity"), {"action": "test.a"}).context["page_obj"]
    assert {(e.actor_repr, e.action) for e in page} == {
        ("alice@example.com", "test.a"),
        ("bob@example.com", "test.a"),
    }
    page = client_alice.get(
        reverse("tenants:activity"), {"action": "test.a", "actor": "bob@example.com"}
    ).context["page_obj"]
    assert [(e.actor_repr, e.action) for e in page] == [("bob@example.com", "test.a")]


def test_activity_filtered_to_nothing_offers_to_clear_the_filters(client_alice, alice, bob, acme):
    audit_record(actor=alice, tenant=acme, action="test.a")
    audit_record(actor=bob, tenant=acme, action="test.b")
    body = client_alice.get(
        reverse("tenants:activity"), {"action": "test.a", "actor": "bob@example.com"}
    ).content.decode()
    assert "Nothing matches these filters" in body


def test_an_unknown_activity_filter_is_ignored(client_alice, alice, acme, globex):
    audit_record(actor=alice, tenant=acme, action="test.a")
    audit_record(actor=None, tenant=globex, action="test.globex-only")
    # Another tenant's action is not a choice here: the filter falls back to everything.
    body = client_alice.get(reverse("tenants:activity"), {"action": "test.globex-only"}).content.decode()
    assert "test.a" in body


def test_activity_is_paginated_by_25(client_alice, alice, acme):
    for n in range(30):
        audit_record(actor=alice, tenant=acme, action=f"test.{n:02d}")
    first = client_alice.get(reverse("tenants:activity"))
    assert len(first.context["page_obj"]) == 25
    assert "1–25 of 30" in first.content.decode()
    second = client_alice.get(reverse("tenants:activity"), {"page": 2})
    assert [e.action for e in second.context["page_obj"]] == [f"test.{n:02d}" for n in (4, 3, 2, 1, 0)]


def test_activity_answers_htmx_with_only_the_results(client_alice, alice, acme):
    audit_record(actor=alice, tenant=acme, action="test.a")
    response = client_alice.get(
        reverse("tenants:activity"),
        {"action": "test.a"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="activity-results",
    )
    body = response.content.decode()
    assert "test.a" in body
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_activity_has_an_empty_state(client_alice):
    assert "No activity yet" in client_alice.get(reverse("tenants:activity")).content.decode()
