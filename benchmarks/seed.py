"""A fresh benchmark database, seeded fast with ``bulk_create``.

1,000 tenants with 3 members each (owner, operator, reader), one subscription per tenant over a
few plans, add-ons on some, a quota ledger so the bars have numbers, and an activity history.
Tenant "bench" is the one the benchmark signs in to: its owner holds many subscriptions on a
plan that allows it, so the dashboard and the API list render many rows, not one.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

BENCH_SLUG = "bench"
BENCH_EMAIL = "owner@bench.test"
BENCH_PASSWORD = "bench-password-0123"
ROLES = ("owner", "operator", "reader")
BATCH = 2000


@dataclass(frozen=True)
class SeedCounts:
    tenants: int
    users: int
    memberships: int
    subscriptions: int
    allocations: int
    audit_events: int


@dataclass(frozen=True)
class Credentials:
    """What the load generator needs to act as the bench tenant's owner."""

    tenant_id: str
    session_cookie: str
    api_token: str


def recreate_database(url: str) -> str:
    """Drop and create the database named in a ``postgres://`` URL; returns its name."""
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SystemExit(f"The benchmark needs PostgreSQL; DATABASE_URL is {url!r}.")
    name = unquote(parsed.path.lstrip("/"))
    if "bench" not in name:
        # This drops the database: never let a stray URL point it at real data.
        raise SystemExit(f"Refusing to drop {name!r}: the benchmark database's name must contain 'bench'.")
    conninfo = {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": unquote(parsed.username or "postgres"),
        "dbname": "postgres",
    }
    if parsed.password:
        conninfo["password"] = unquote(parsed.password)
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        # FORCE ends sessions a previous, interrupted run may have left behind.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def migrate() -> None:
    call_command("migrate", verbosity=0, interactive=False)


def _plans():
    from subscriptions.models import AddOn, Plan, Visibility

    specs = [
        ("Bench Small", dict(vms=4, vcpus=8, ram_gib=16, disk_gib=200, networks=2, public_ips=1)),
        ("Bench Standard", dict(vms=10, vcpus=24, ram_gib=64, disk_gib=1000, networks=4, public_ips=3)),
        ("Bench Large", dict(vms=40, vcpus=96, ram_gib=256, disk_gib=4000, networks=10, public_ips=8)),
    ]
    plans = [
        Plan(name=name, description=f"{name} plan for the benchmark.", visibility=Visibility.PUBLIC, **quota)
        for name, quota in specs
    ]
    # The bench tenant's plan: many subscriptions to it are allowed, so its list is long.
    plans.append(
        Plan(
            name="Bench Team",
            description="Many subscriptions per tenant.",
            visibility=Visibility.PUBLIC,
            max_subscriptions_per_tenant=1000,
            vms=20,
            vcpus=48,
            ram_gib=128,
            disk_gib=2000,
            networks=6,
            public_ips=4,
        )
    )
    Plan.objects.bulk_create(plans)
    addon = AddOn.objects.create(name="Bench Extra VMs", description="Five more VMs.", vms=5, vcpus=10)
    addon.plans.set(plans)
    return plans, addon


def seed(*, tenants: int = 1000, users_per_tenant: int = 3, bench_subscriptions: int = 50) -> SeedCounts:
    """Fill an empty, migrated database. Deterministic (fixed random seed)."""
    from portal.models import AuditEvent
    from subscriptions.models import Allocation, Subscription, SubscriptionAddOn
    from tenants.models import Membership, Tenant, User

    rng = random.Random(3)
    # PBKDF2 once: hashing 3,000 passwords one by one would take minutes.
    password = make_password(BENCH_PASSWORD)
    with transaction.atomic():
        plans, addon = _plans()
        team_plan, tenant_plans = plans[-1], plans[:-1]

        tenant_rows = [Tenant(name="Bench Corp", slug=BENCH_SLUG)] + [
            Tenant(name=f"Tenant {i:04d}", slug=f"tenant-{i:04d}") for i in range(1, tenants)
        ]
        Tenant.objects.bulk_create(tenant_rows, batch_size=BATCH)

        users, memberships = [], []
        for i, tenant in enumerate(tenant_rows):
            for j in range(users_per_tenant):
                role = ROLES[min(j, len(ROLES) - 1)]
                email = BENCH_EMAIL if i == 0 and j == 0 else f"{role}{j}.{tenant.slug}@bench.test"
                user = User(email=email, username=email, password=password, full_name=f"{role.title()} {i}")
                users.append(user)
                memberships.append(Membership(tenant=tenant, user=user, role=role))
        User.objects.bulk_create(users, batch_size=BATCH)
        Membership.objects.bulk_create(memberships, batch_size=BATCH)
        owners = {m.tenant_id: m.user for m in memberships if m.role == "owner"}

        subscriptions = []
        for i, tenant in enumerate(tenant_rows):
            if i == 0:
                subscriptions += [
                    Subscription(
                        tenant=tenant,
                        plan=team_plan if k else tenant_plans[1],
                        name=f"Project {k:02d}",
                        created_by=owners[tenant.pk],
                    )
                    for k in range(bench_subscriptions)
                ]
            else:
                plan = tenant_plans[i % len(tenant_plans)]
                subscriptions.append(
                    Subscription(tenant=tenant, plan=plan, name=plan.name, created_by=owners[tenant.pk])
                )
        Subscription.objects.bulk_create(subscriptions, batch_size=BATCH)

        links = [
            SubscriptionAddOn(subscription=s, addon=addon, quantity=1 + n % 2)
            for n, s in enumerate(subscriptions)
            if n % 5 == 0
        ]
        SubscriptionAddOn.objects.bulk_create(links, batch_size=BATCH)

        allocations = []
        for s in subscriptions:
            for _ in range(rng.randint(1, 3)):
                allocations.append(
                    Allocation(
                        subscription=s,
                        resource_type="vm",
                        resource_id=uuid.uuid4(),
                        vms=1,
                        vcpus=rng.choice((1, 2, 4)),
                        ram_gib=rng.choice((2, 4, 8)),
                        disk_gib=rng.choice((20, 40, 80)),
                    )
                )
            if rng.random() < 0.5:
                allocations.append(
                    Allocation(subscription=s, resource_type="network", resource_id=uuid.uuid4(), networks=1)
                )
        Allocation.objects.bulk_create(allocations, batch_size=BATCH)

        events = [
            AuditEvent(
                actor=owners[t.pk],
                actor_repr=owners[t.pk].email,
                tenant=t,
                action="tenant.create",
                target_type="tenant",
                target_id=str(t.pk),
                target_repr=t.name,
            )
            for t in tenant_rows
        ]
        events += [
            AuditEvent(
                actor=s.created_by,
                actor_repr=s.created_by.email,
                tenant=s.tenant,
                action="subscription.create",
                target_type="subscription",
                target_id=str(s.pk),
                target_repr=s.name,
                data={"plan": s.plan.name},
            )
            for s in subscriptions
        ]
        AuditEvent.objects.bulk_create(events, batch_size=BATCH)

    # Fresh statistics, as a database that has been running would have: without them the
    # planner guesses, and autovacuum might analyse in the middle of a measurement instead.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return SeedCounts(
        tenants=len(tenant_rows),
        users=len(users),
        memberships=len(memberships),
        subscriptions=len(subscriptions),
        allocations=len(allocations),
        audit_events=len(events),
    )


def credentials() -> Credentials:
    """A server-side session and an API token for the bench tenant's owner.

    The session is written the way ``django.contrib.auth.login`` writes one (so the dashboard
    sees a signed-in user with the bench tenant current) without a round of the login form,
    which django-axes would count and which costs a PBKDF2 hash.
    """
    from portal.tenancy import SESSION_KEY as TENANT_SESSION_KEY
    from tenants.models import Role, Tenant, User
    from tenants.services import api_token_create

    tenant = Tenant.objects.get(slug=BENCH_SLUG)
    user = User.objects.get(email=BENCH_EMAIL)
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[TENANT_SESSION_KEY] = str(tenant.pk)
    store.set_expiry(timedelta(hours=2))
    store.create()
    _, raw = api_token_create(
        tenant=tenant, user=user, name="benchmark", role=Role.OWNER, expires_in_days=1, actor_role=Role.OWNER
    )
    return Credentials(tenant_id=str(tenant.pk), session_cookie=store.session_key, api_token=raw)


def now_iso() -> str:
    return timezone.now().isoformat(timespec="seconds")


# --- compute (issue 5: benchmarks.provisioning, benchmarks.vm_list) -------------------------

COMPUTE_PLAN = "Bench Compute"
# A syntactically real ed25519 public key (32 bytes of 0x01, nobody's key): the web farm's
# only required parameter.
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB bench@cloudstamp"
WEB_FARM_VALUES = {"ssh_key": SSH_KEY}


def database_url(name: str, base: str | None = None) -> str:
    """``base`` (or ``BENCH_DATABASE_URL``, or the default server) with the database ``name``:
    each benchmark keeps its own database, so one's ``--reuse-db`` survives another's run."""
    import os

    base = (
        base or os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/cloudstamp_bench"
    )
    return urlparse(base)._replace(path=f"/{name}").geturl()


@dataclass(frozen=True)
class ComputeCatalogue:
    """What deploying needs: a service admin, a plan with room, the web farm's published
    version and the small size (offered by the plan)."""

    admin: object
    plan: object
    version: object
    size: object


def compute_catalogue() -> ComputeCatalogue:
    """The gallery's sample items and the standard sizes, offered by a plan whose quota
    never gets in the way (the benchmarks measure the engine, not quota refusals)."""
    from gallery.models import GalleryItem, VMSize
    from gallery.services import gallery_item_attach_plan, gallery_load_samples, vm_size_attach_plan
    from subscriptions.models import Plan, Visibility
    from tenants.models import User

    admin = User.objects.filter(email="admin@bench.test").first()
    if admin is None:
        admin = User.objects.create(
            email="admin@bench.test",
            username="admin@bench.test",
            password=make_password(BENCH_PASSWORD),
            full_name="Bench Admin",
            is_service_admin=True,
        )
    plan = Plan.objects.filter(name=COMPUTE_PLAN).first()
    if plan is None:
        big = 10_000_000
        plan = Plan.objects.create(
            name=COMPUTE_PLAN,
            description="Room for every VM the benchmarks make.",
            visibility=Visibility.PUBLIC,
            max_subscriptions_per_tenant=1000,
            vms=big,
            vcpus=big,
            ram_gib=big,
            disk_gib=big,
            networks=100,
            public_ips=100,
        )
        gallery_load_samples(actor=admin)
        for item in GalleryItem.objects.all():
            gallery_item_attach_plan(item=item, plan=plan, actor=admin)
        for size in VMSize.objects.filter(name__in=["small", "medium", "large"]):
            vm_size_attach_plan(size=size, plan=plan, actor=admin)
    version = GalleryItem.objects.get(slug="web-farm").versions.get(state="published")
    return ComputeCatalogue(admin=admin, plan=plan, version=version, size=VMSize.objects.get(name="small"))


@dataclass(frozen=True)
class ComputeTenant:
    tenant: object
    owner: object
    subscription: object


def compute_tenants(*, count: int, plan, prefix: str = "compute") -> list[ComputeTenant]:
    """``count`` tenants, each with an owner and one subscription to ``plan``."""
    from subscriptions.models import Subscription
    from tenants.models import Membership, Tenant, User

    password = make_password(BENCH_PASSWORD)
    out = []
    with transaction.atomic():
        for i in range(count):
            tenant = Tenant.objects.create(name=f"{prefix.title()} {i:03d}", slug=f"{prefix}-{i:03d}")
            email = f"owner.{tenant.slug}@bench.test"
            owner = User.objects.create(
                email=email, username=email, password=password, full_name=f"Owner {i}"
            )
            Membership.objects.create(tenant=tenant, user=owner, role="owner")
            subscription = Subscription.objects.create(
                tenant=tenant, plan=plan, name=f"{prefix} {i:03d}", created_by=owner
            )
            out.append(ComputeTenant(tenant=tenant, owner=owner, subscription=subscription))
    return out


def compute_hosts(
    *, count: int, actor, vcpus: int = 512, ram_gib: int = 2048, disk_gib: int = 200_000
) -> list:
    """Simulated hosts, registered the way an admin registers them (the driver is asked for
    its capacity). Big enough that placement never runs out of room in a benchmark."""
    from compute.models import Host
    from compute.services import host_register

    hosts = []
    for i in range(count):
        name = f"bench-node-{i:02d}"
        host = Host.objects.filter(name=name).first() or host_register(
            actor=actor, name=name, uri=f"sim://{name}?vcpus={vcpus}&ram_gib={ram_gib}&disk_gib={disk_gib}"
        )
        hosts.append(host)
    return hosts


@dataclass(frozen=True)
class VMSeedCounts:
    tenants: int
    deployments: int
    vms: int
    bench_vms: int


# The mix of states a long-lived tenant's VMs are in (live ones; deleted ones come on top).
_VM_STATES = (
    # (weight, provisioning_state, power_state, task_state)
    (80, "active", "running", ""),
    (12, "active", "shutdown", ""),
    (3, "building", "nostate", "spawning"),
    (2, "active", "running", "rebooting"),
    (3, "error", "nostate", ""),
)


def seed_vms(
    *, total: int = 50_000, bench_vms: int = 5_000, per_deployment: int = 10, hosts: int = 20
) -> VMSeedCounts:
    """VMs written directly (``bulk_create``, no jobs): ``bench_vms`` live VMs for the bench
    tenant, the rest of ``total`` spread over the other tenants, in deployments of
    ``per_deployment``, with a realistic mix of states and 5 % deleted ones on top (a list
    must skip them). Needs ``seed`` first (tenants, owners, subscriptions)."""
    from compute import placement
    from compute.models import Deployment, Host, ResourceConfiguration, VirtualMachine
    from subscriptions.models import Subscription
    from tenants.models import Tenant

    catalogue = compute_catalogue()
    version, size = catalogue.version, catalogue.size
    rng = random.Random(5)
    weights = [w for w, *_ in _VM_STATES]
    host_rows = [
        Host(
            name=f"rack-{i:02d}",
            uri=f"sim://rack-{i:02d}?vcpus=512&ram_gib=2048",
            vcpus=512,
            ram_gib=2048,
            disk_gib=200_000,
        )
        for i in range(hosts)
    ]
    tenants = list(Tenant.objects.order_by("slug").values_list("pk", "slug"))
    bench_id = next(pk for pk, slug in tenants if slug == BENCH_SLUG)
    others = [pk for pk, slug in tenants if slug != BENCH_SLUG]
    subscriptions: dict = {}
    for sub in Subscription.objects.order_by("created").values("pk", "tenant_id", "created_by_id"):
        subscriptions.setdefault(sub["tenant_id"], sub)
    # How many live VMs each tenant gets: the bench tenant its share, the others the rest.
    plan = {bench_id: bench_vms}
    rest = max(total - bench_vms, 0)
    for n, pk in enumerate(others):
        plan[pk] = rest // len(others) + (1 if n < rest % len(others) else 0)

    deployments, configurations, vms = [], [], []
    base = timezone.now() - timedelta(days=30)
    for tenant_id, live in plan.items():
        sub = subscriptions[tenant_id]
        deleted = live // 20
        count = live + deleted
        for d in range(-(-count // per_deployment)):
            n = min(per_deployment, count - d * per_deployment)
            deployment = Deployment(
                tenant_id=tenant_id,
                subscription_id=sub["pk"],
                version=version,
                name=f"farm-{d:04d}",
                hostname_prefix=f"farm-{d:04d}",
                size=size,
                instance_count=n,
                state=Deployment.State.READY,
                next_index=n,
                created_by_id=sub["created_by_id"],
            )
            configuration = ResourceConfiguration(
                deployment=deployment,
                number=1,
                values=dict(WEB_FARM_VALUES),
                created_by_id=sub["created_by_id"],
            )
            deployments.append(deployment)
            configurations.append(configuration)
            for index in range(1, n + 1):
                if deleted and index == n:
                    state = ("deleted", "nostate", "")
                    deleted -= 1
                else:
                    state = rng.choices(_VM_STATES, weights)[0][1:]
                vms.append(
                    VirtualMachine(
                        id=uuid.uuid4(),
                        tenant_id=tenant_id,
                        subscription_id=sub["pk"],
                        deployment=deployment,
                        configuration=configuration,
                        index=index,
                        name=f"{deployment.name}-{index:02d}",
                        hostname=f"{deployment.hostname_prefix}-{index:02d}",
                        size_name=size.name,
                        vcpus=size.vcpus,
                        ram_gib=size.ram_gib,
                        disk_gib=size.disk_gib,
                        image="debian-12-genericcloud-amd64",
                        host=host_rows[rng.randrange(len(host_rows))] if state[0] != "deleted" else None,
                        provisioning_state=state[0],
                        power_state=state[1],
                        task_state=state[2],
                        message="The host refused the operation." if state[0] == "error" else "",
                        launched_at=base if state[0] == "active" else None,
                        created_by_id=sub["created_by_id"],
                    )
                )
    with transaction.atomic():
        Host.objects.bulk_create(host_rows, batch_size=BATCH)
        Deployment.objects.bulk_create(deployments, batch_size=BATCH)
        ResourceConfiguration.objects.bulk_create(configurations, batch_size=BATCH)
        VirtualMachine.objects.bulk_create(vms, batch_size=BATCH)
        # auto_now_add stamps every row with the same instant; a real list is spread over
        # time, and its order (newest first) should not be decided by the tie-breaker alone.
        with connection.cursor() as cursor:
            cursor.execute("SELECT setseed(0.5)")  # the same spread on every run
            cursor.execute(
                "UPDATE compute_virtualmachine SET created = %s + (random() * interval '30 days')",
                [base],
            )
        # The hosts' used-capacity counters, as placement would have kept them.
        placement.recount()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE compute_virtualmachine")
        cursor.execute("VACUUM ANALYZE compute_deployment")
    return VMSeedCounts(
        tenants=len(plan), deployments=len(deployments), vms=len(vms), bench_vms=plan[bench_id]
    )
