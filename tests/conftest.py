"""The fixed cast, healthchecks-style:

- alice owns tenant "Acme" (with a subscription); bob is an operator in Acme; carol reads Acme;
- charlie owns tenant "Globex" and has no access to Acme;
- admin is a service admin.
"""

from __future__ import annotations

import pytest

from tenants.models import Role
from tests.factories import (
    MembershipFactory,
    PlanFactory,
    ServiceAdminFactory,
    SubscriptionFactory,
    TenantFactory,
    UserFactory,
)


@pytest.fixture(autouse=True)
def _reset_axes(settings):
    # Lockouts from one test must not leak into another.
    settings.AXES_ENABLED = True


@pytest.fixture
def acme(db):
    return TenantFactory(name="Acme", slug="acme")


@pytest.fixture
def globex(db):
    return TenantFactory(name="Globex", slug="globex")


@pytest.fixture
def alice(acme):
    user = UserFactory(email="alice@example.com", full_name="Alice Owner")
    MembershipFactory(tenant=acme, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob(acme):
    user = UserFactory(email="bob@example.com", full_name="Bob Operator")
    MembershipFactory(tenant=acme, user=user, role=Role.OPERATOR)
    return user


@pytest.fixture
def carol(acme):
    user = UserFactory(email="carol@example.com", full_name="Carol Reader")
    MembershipFactory(tenant=acme, user=user, role=Role.READER)
    return user


@pytest.fixture
def charlie(globex):
    user = UserFactory(email="charlie@example.com", full_name="Charlie Elsewhere")
    MembershipFactory(tenant=globex, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def admin(db):
    return ServiceAdminFactory(email="admin@example.com", full_name="Service Admin")


@pytest.fixture
def plan(db):
    return PlanFactory(name="Standard", vms=10, vcpus=20, ram_gib=40, disk_gib=500, networks=5, public_ips=2)


@pytest.fixture
def acme_subscription(acme, plan):
    return SubscriptionFactory(tenant=acme, plan=plan, name="Acme production")


@pytest.fixture
def globex_subscription(globex, plan):
    return SubscriptionFactory(tenant=globex, plan=plan, name="Globex secret project")


@pytest.fixture
def client_alice(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def client_charlie(client, charlie):
    client.force_login(charlie)
    return client


@pytest.fixture
def client_admin(client, admin):
    client.force_login(admin)
    return client
