"""`manage.py seed_demo`: the demo data `make run` starts with."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from compute.models import Deployment
from portal.management.commands.seed_demo import ADMIN_EMAIL, DEMO_PASSWORD, USERS
from portal.models import AuditEvent
from subscriptions.models import AddOn, Allocation, Plan, Subscription, SubscriptionAddOn, Visibility
from subscriptions.services import quota_usage
from tenants.models import Membership, Role, Tenant, User

pytestmark = pytest.mark.django_db

MODELS = (User, Tenant, Membership, Plan, AddOn, Subscription, SubscriptionAddOn, Allocation)


@pytest.fixture(autouse=True)
def _development(settings):
    # The test runner forces DEBUG off; seed_demo only runs on development databases.
    settings.DEBUG = True


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def test_it_creates_an_admin_two_tenants_and_three_plans():
    seed()
    assert User.objects.get(email=ADMIN_EMAIL).is_service_admin
    roles = {
        (m.tenant.name, m.user.email): m.role for m in Membership.objects.select_related("tenant", "user")
    }
    assert roles == {
        ("Contoso", "olivia@contoso.test"): Role.OWNER,
        ("Contoso", "oscar@contoso.test"): Role.OPERATOR,
        ("Contoso", "rita@contoso.test"): Role.READER,
        ("Fabrikam", "frank@fabrikam.test"): Role.OWNER,
    }
    plans = {plan.name: plan for plan in Plan.objects.all()}
    assert {name: plan.visibility for name, plan in plans.items()} == {
        "Starter": Visibility.PUBLIC,
        "Professional": Visibility.PUBLIC,
        "Enterprise": Visibility.CODE,
    }
    assert plans["Enterprise"].invitation_code
    assert list(AddOn.objects.get(name="Extra compute").plans.all()) == [plans["Professional"]]


def test_every_demo_login_works_with_the_demo_password():
    seed()
    for spec in USERS:
        assert User.objects.get(email=spec.email).check_password(DEMO_PASSWORD), spec.email


def test_the_dashboard_has_quota_in_use_within_the_limits():
    seed()
    production = Subscription.objects.get(name="Contoso production")
    assert production.addons.filter(name="Extra compute").exists()
    for subscription in Subscription.objects.all():
        usage = quota_usage(subscription)
        assert not usage.used.is_zero(), subscription.name
        for row in usage.rows():
            assert row["used"] <= row["limit"], (subscription.name, row)


def test_a_second_run_changes_nothing():
    seed()
    first = counts()
    events = AuditEvent.objects.count()
    output = seed()
    assert counts() == first
    assert AuditEvent.objects.count() == events
    assert "already seeded" in output


def test_again_creates_only_what_is_missing():
    seed()
    first = counts()
    assert "nothing created" in seed("--again")
    assert counts() == first

    fabrikam = Tenant.objects.get(name="Fabrikam")
    # Deployments protect their subscription (VMs must be deleted through jobs first); the
    # rows go here only because this test removes the tenant behind the portal's back.
    Deployment.objects.filter(tenant=fabrikam).delete()
    fabrikam.delete()  # takes its membership and subscription along
    output = seed("--again")
    assert "1 tenant" in output
    assert counts() == first


def test_it_prints_every_login_and_the_password():
    output = seed()
    assert DEMO_PASSWORD in output
    for spec in USERS:
        assert spec.email in output


def test_the_history_reads_like_real_use():
    seed()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "user.create",
        "tenant.create",
        "invitation.accept",
        "plan.create",
        "subscription.create",
    } <= actions
    assert "demo.seed" in actions


def test_it_refuses_to_seed_a_production_database(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is false"):
        seed()
    assert User.objects.count() == 0


def test_the_demo_tenants_find_the_sample_gallery_items_their_plans_offer():
    from gallery.models import GalleryItem, VMSize
    from gallery.selectors import gallery_items_for_tenant

    seed()
    assert GalleryItem.objects.count() == 4
    contoso = Tenant.objects.get(name="Contoso")
    visible = {item.slug for item in gallery_items_for_tenant(tenant=contoso)}
    assert {"linux-server", "web-server"} <= visible
    assert VMSize.objects.filter(plans__name="Starter").count() == 2
    seed()
    assert GalleryItem.objects.count() == 4
