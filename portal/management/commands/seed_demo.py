"""Demo data for `make run`: a service admin, two tenants with users, three plans.

Everything goes through the services (so the activity log reads like a real history) with
get-or-create semantics: a second run changes nothing. `make run` calls this on every start;
after the first run it only prints the logins, because an "already seeded" audit event marks
the database (``--again`` tops up whatever was deleted since).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings

from portal.audit import audit_record
from portal.errors import Conflict
from portal.models import AuditEvent
from subscriptions.models import AddOn, Plan, Subscription, SubscriptionAddOn, Visibility
from subscriptions.quota import QuotaExceeded
from subscriptions.services import (
    addon_create,
    plan_create,
    subscription_addon_add,
    subscription_create,
)
from tenants.models import Membership, Role, Tenant, User
from tenants.services import invitation_accept, invitation_create, tenant_create, user_create

DEMO_PASSWORD = "cloudstamp-demo"
SEEDED_ACTION = "demo.seed"
ADMIN_EMAIL = "admin@cloudstamp.test"

# Fixed namespace, so each demo allocation has the same resource id on every run.
_DEMO_NS = uuid.UUID("6f0c3b8e-2a4d-4d8f-9a55-3c1e0d6b7a21")


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    tenant: str | None = None
    role: str | None = None


USERS = [
    DemoUser(ADMIN_EMAIL, "Ada Admin"),
    DemoUser("olivia@contoso.test", "Olivia Owner", "Contoso", Role.OWNER),
    DemoUser("oscar@contoso.test", "Oscar Operator", "Contoso", Role.OPERATOR),
    DemoUser("rita@contoso.test", "Rita Reader", "Contoso", Role.READER),
    DemoUser("frank@fabrikam.test", "Frank Owner", "Fabrikam", Role.OWNER),
]

PLANS = [
    {
        "name": "Starter",
        "description": "A couple of small VMs to try things out.",
        "visibility": Visibility.PUBLIC,
        "vms": 2,
        "vcpus": 4,
        "ram_gib": 8,
        "disk_gib": 100,
        "networks": 1,
        "public_ips": 1,
    },
    {
        "name": "Professional",
        "description": "Production workloads for a team.",
        "visibility": Visibility.PUBLIC,
        "vms": 10,
        "vcpus": 24,
        "ram_gib": 64,
        "disk_gib": 1000,
        "networks": 4,
        "public_ips": 3,
    },
    {
        "name": "Enterprise",
        "description": "Large estates, by invitation: ask your account manager for the code.",
        "visibility": Visibility.CODE,
        "invitation_code": "ENTERPRISE-DEMO",
        "vms": 50,
        "vcpus": 200,
        "ram_gib": 512,
        "disk_gib": 10000,
        "networks": 20,
        "public_ips": 16,
        "max_subscriptions_per_tenant": 3,
    },
]

ADDON = {
    "name": "Extra compute",
    "description": "Five more VMs with the vCPUs and memory to run them.",
    "vms": 5,
    "vcpus": 16,
    "ram_gib": 32,
    "disk_gib": 250,
    "plans": ["Professional"],
}

# (tenant, subscription name, plan, add-ons)
SUBSCRIPTIONS = [
    ("Contoso", "Contoso production", "Professional", ["Extra compute"]),
    ("Contoso", "Contoso dev/test", "Starter", []),
    ("Fabrikam", "Fabrikam pilot", "Starter", []),
]

# A syntactically valid ed25519 public key that opens nothing: the demo VMs are simulated.
DEMO_SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB demo@cloudstamp"
)

# Simulated hypervisor hosts (controller/simulated.py): capacity is in the URI.
DEMO_HOSTS = [
    ("sim-rack1-node1", "sim://rack1-node1?vcpus=64&ram_gib=256&disk_gib=4000"),
    ("sim-rack1-node2", "sim://rack1-node2?vcpus=64&ram_gib=256&disk_gib=4000"),
    ("sim-rack2-node1", "sim://rack2-node1?vcpus=32&ram_gib=128&disk_gib=2000"),
]

# (subscription, gallery item slug, deployment name, instances, parameter values): real
# deployments, provisioned by the worker once `make run` is up, so quota bars, VM lists and
# jobs show real work.
DEPLOYMENTS = [
    ("Contoso production", "web-farm", "shop-web", 2, {"ssh_key": DEMO_SSH_KEY, "hostname": "shop"}),
    ("Contoso production", "linux-server", "jump-host", 1, {"ssh_key": DEMO_SSH_KEY}),
    ("Contoso dev/test", "linux-server", "build-01", 1, {"ssh_key": DEMO_SSH_KEY}),
    ("Fabrikam pilot", "linux-server", "pilot-01", 1, {"ssh_key": DEMO_SSH_KEY}),
]


class Command(BaseCommand):
    help = "Create the demo service admin, tenants, users, plans and subscriptions (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--again",
            action="store_true",
            help="Seed even if this database was seeded before (creates only what is missing).",
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed although DEBUG is false. Demo users have a published password.",
        )

    def handle(self, *args, again: bool = False, allow_production: bool = False, **options) -> None:
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "DEBUG is false: refusing to create demo users with a published password. "
                "Pass --allow-production if this really is a demo installation."
            )
        if AuditEvent.objects.filter(action=SEEDED_ACTION).exists() and not again:
            self.stdout.write("Demo data: already seeded (manage.py seed_demo --again to top it up).")
        else:
            # Invitations mail their link on commit; the demo accepts them itself, so keep the
            # console free of five e-mails.
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
                created = seed()
            self.stdout.write(self.style.SUCCESS(f"Demo data: {created or 'nothing'} created."))
        self._print_logins()

    def _print_logins(self) -> None:
        existing = set(
            User.objects.filter(email__in=[u.email for u in USERS]).values_list("email", flat=True)
        )
        self.stdout.write(f"Logins (password {DEMO_PASSWORD!r} unless you changed it):")
        for user in USERS:
            if user.email not in existing:
                continue
            where = "service admin" if user.tenant is None else f"{user.role} of {user.tenant}"
            self.stdout.write(f"  {user.email:<24} {where}")


@transaction.atomic
def seed() -> str:
    """Create whatever part of the demo data is missing; return a summary of what was created."""
    counts: dict[str, int] = {}

    def created(kind: str) -> None:
        counts[kind] = counts.get(kind, 0) + 1

    users: dict[str, User] = {}
    for spec in USERS:
        user = User.objects.filter(email=spec.email).first()
        if user is None:
            user = user_create(
                email=spec.email,
                password=DEMO_PASSWORD,
                full_name=spec.full_name,
                is_service_admin=spec.tenant is None,
            )
            created("user")
        users[spec.email] = user
    admin = users[ADMIN_EMAIL]

    tenants: dict[str, Tenant] = {}
    for spec in USERS:
        if spec.tenant is None:
            continue
        tenant = (
            tenants.get(spec.tenant) or Tenant.objects.filter(name=spec.tenant).order_by("created").first()
        )
        user = users[spec.email]
        if tenant is None:
            # The first user listed for a tenant is its owner.
            tenant = tenant_create(name=spec.tenant, owner=user, actor=admin)
            created("tenant")
        elif not Membership.objects.filter(tenant=tenant, user=user).exists():
            # Join the way real users do: an owner invites, the user accepts.
            owner = Membership.objects.filter(tenant=tenant, role=Role.OWNER).select_related("user").first()
            _, token = invitation_create(
                tenant=tenant, email=spec.email, role=spec.role, actor=owner.user if owner else admin
            )
            invitation_accept(raw_token=token, user=user)
            created("membership")
        tenants[spec.tenant] = tenant

    plans: dict[str, Plan] = {}
    for data in PLANS:
        plan = Plan.objects.filter(name=data["name"]).first()
        if plan is None:
            plan = plan_create(actor=admin, **data)
            created("plan")
        plans[plan.name] = plan

    addon = AddOn.objects.filter(name=ADDON["name"]).first()
    if addon is None:
        fields = {k: v for k, v in ADDON.items() if k != "plans"}
        addon = addon_create(actor=admin, plans=[plans[name] for name in ADDON["plans"]], **fields)
        created("add-on")
    addons = {addon.name: addon}

    subscriptions: dict[str, Subscription] = {}
    for tenant_name, name, plan_name, addon_names in SUBSCRIPTIONS:
        tenant = tenants[tenant_name]
        subscription = Subscription.objects.for_tenant(tenant).filter(name=name).first()
        if subscription is None:
            owner = Membership.objects.filter(tenant=tenant, role=Role.OWNER).select_related("user").first()
            subscription = subscription_create(
                tenant=tenant, plan=plans[plan_name], actor=owner.user, name=name
            )
            created("subscription")
        for addon_name in addon_names:
            if not SubscriptionAddOn.objects.filter(
                subscription=subscription, addon=addons[addon_name]
            ).exists():
                subscription_addon_add(subscription=subscription, addon=addons[addon_name], actor=admin)
                created("add-on link")
        subscriptions[name] = subscription

    _seed_gallery(admin=admin, plans=plans, created=created)
    _seed_compute(admin=admin, subscriptions=subscriptions, created=created)

    if counts:
        audit_record(actor=None, tenant=None, action=SEEDED_ACTION, data={"created": counts})
    elif not AuditEvent.objects.filter(action=SEEDED_ACTION).exists():
        audit_record(actor=None, tenant=None, action=SEEDED_ACTION, data={"created": {}})
    return ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items())


# Which sample items and sizes each demo plan offers: Starter gets the small servers,
# Professional and Enterprise everything.
GALLERY_OFFERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Starter": (("linux-server", "web-server"), ("small", "medium")),
    "Professional": (("linux-server", "web-server", "postgresql", "web-farm"), ("small", "medium", "large")),
    "Enterprise": (
        ("linux-server", "web-server", "postgresql", "web-farm"),
        ("small", "medium", "large", "xlarge"),
    ),
}


def _seed_gallery(*, admin: User, plans: dict[str, Plan], created) -> None:
    """Import the sample gallery packages and offer them with the demo plans (idempotent)."""
    from gallery.models import GalleryItem, VMSize
    from gallery.services import gallery_item_attach_plan, gallery_load_samples, vm_size_attach_plan

    for result in gallery_load_samples(actor=admin):
        if result.created:
            created("gallery item")
    for plan_name, (slugs, sizes) in GALLERY_OFFERS.items():
        plan = plans.get(plan_name)
        if plan is None:
            continue
        for item in GalleryItem.objects.filter(slug__in=slugs).exclude(plans=plan):
            gallery_item_attach_plan(item=item, plan=plan, actor=admin)
        for size in VMSize.objects.filter(name__in=sizes).exclude(plans=plan):
            vm_size_attach_plan(size=size, plan=plan, actor=admin)


def _seed_compute(*, admin: User, subscriptions: dict[str, Subscription], created) -> None:
    """Register the simulated hosts and queue the demo deployments (idempotent: by name)."""
    from compute.models import Deployment, Host
    from compute.services import deployment_create, host_register
    from gallery.models import GalleryItemVersion

    for name, uri in DEMO_HOSTS:
        if not Host.objects.filter(name=name).exists():
            host_register(actor=admin, name=name, uri=uri)
            created("host")
    for subscription_name, slug, name, count, values in DEPLOYMENTS:
        subscription = subscriptions[subscription_name]
        if subscription.state != Subscription.State.ACTIVE:
            continue  # suspended or cancelled since the first run: it takes no new work
        if Deployment.objects.for_tenant(subscription.tenant).filter(name=name).exists():
            continue
        version = (
            GalleryItemVersion.objects.filter(item__slug=slug, state=GalleryItemVersion.State.PUBLISHED)
            .select_related("item")
            .first()
        )
        owner = (
            Membership.objects.filter(tenant=subscription.tenant, role=Role.OWNER)
            .select_related("user")
            .first()
        )
        try:
            deployment_create(
                tenant=subscription.tenant,
                actor=owner.user if owner else admin,
                version=version,
                subscription=subscription,
                values=values,
                instance_count=count,
                name=name,
            )
        except (QuotaExceeded, ValidationError, Conflict):
            continue  # an admin changed the plan or offers since; the demo need not have it
        created("deployment")
