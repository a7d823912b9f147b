"""Two tenants with one of everything: Acme is the victim, charlie of Globex the attacker."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from subscriptions.models import Subscription, SubscriptionAddOn
from subscriptions.quota import Demand
from subscriptions.services import quota_reserve
from tenants.models import ApiToken, Invitation, Membership, Role
from tenants.services import api_token_create, invitation_create
from tests.factories import (
    AddOnFactory,
    MembershipFactory,
    PlanFactory,
    ServiceAdminFactory,
    SubscriptionFactory,
    TenantFactory,
    UserFactory,
)


class _AnyId(dict):
    """Parameter values for admin routes: any parameter gets a real id (Acme's)."""

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def __missing__(self, key: str) -> str:
        return self.default


@dataclass
class World:
    acme: object
    globex: object
    alice: object
    bob: object
    charlie: object
    admin: object
    plan: object
    acme_private_plan: object
    addon: object
    acme_subscription: object
    globex_subscription: object
    bob_membership: object
    acme_invitation: object
    acme_invitation_raw: str
    acme_token: object
    alice_token: str
    charlie_token: str
    secrets: list[str] = field(default_factory=list)
    # --- tenant gallery: an item offered only by Acme's private plan ---
    acme_gallery_item: object = None
    acme_gallery_version: object = None
    # --- tenant compute: a deployment of that item with one VM, and its deploy job ---
    acme_deployment: object = None
    acme_vm: object = None
    acme_job: object = None
    acme_vm_action: str = "start"

    def snapshot(self) -> tuple:
        """Everything charlie might try to change in Acme."""
        return (
            list(
                Subscription.objects.filter(tenant=self.acme)
                .values_list("id", "name", "state")
                .order_by("id")
            ),
            list(
                SubscriptionAddOn.objects.filter(subscription__tenant=self.acme).values_list(
                    "addon_id", "quantity"
                )
            ),
            list(
                Membership.objects.filter(tenant=self.acme).values_list("user_id", "role").order_by("user_id")
            ),
            list(Invitation.objects.filter(tenant=self.acme).values_list("id", "revoked_at", "accepted_at")),
            list(ApiToken.objects.filter(tenant=self.acme).values_list("id", "revoked_at", "name")),
            type(self.acme).objects.filter(pk=self.acme.pk).values_list("name", "state").get(),
            *self._compute_snapshot(),
        )

    def _compute_snapshot(self) -> tuple:
        from compute.models import Deployment, VirtualMachine
        from portal.models import Job

        return (
            list(
                Deployment.objects.filter(tenant=self.acme)
                .values_list("id", "state", "instance_count")
                .order_by("id")
            ),
            list(
                VirtualMachine.objects.filter(tenant=self.acme)
                .values_list("id", "provisioning_state", "power_state", "task_state")
                .order_by("id")
            ),
            list(
                Job.objects.filter(tenant=self.acme)
                .values_list("id", "state", "cancel_requested")
                .order_by("id")
            ),
        )

    def admin_values(self) -> dict:
        return _AnyId(str(self.acme.pk))


def build_world() -> World:
    acme = TenantFactory(name="Acme Rockets", slug="acme")
    globex = TenantFactory(name="Globex", slug="globex")
    alice = UserFactory(email="alice@acme.example", full_name="Alice Acmeowner")
    bob = UserFactory(email="bob@acme.example", full_name="Bob Acmeoperator")
    charlie = UserFactory(email="charlie@globex.example", full_name="Charlie Globex")
    admin = ServiceAdminFactory(email="admin@example.com", full_name="Service Admin")
    MembershipFactory(tenant=acme, user=alice, role=Role.OWNER)
    bob_membership = MembershipFactory(tenant=acme, user=bob, role=Role.OPERATOR)
    MembershipFactory(tenant=globex, user=charlie, role=Role.OWNER)
    plan = PlanFactory(name="Standard", max_subscriptions_per_tenant=5)
    addon = AddOnFactory(name="Extra compute", plans=[plan])
    acme_private_plan = PlanFactory(name="Acme negotiated deal", visibility="private")
    acme_subscription = SubscriptionFactory(tenant=acme, plan=plan, name="Acme moonshot production")
    SubscriptionFactory(tenant=acme, plan=acme_private_plan, name="Acme special")
    SubscriptionAddOn.objects.create(subscription=acme_subscription, addon=addon, quantity=1)
    globex_subscription = SubscriptionFactory(tenant=globex, plan=plan, name="Globex main")
    with transaction.atomic():
        quota_reserve(subscription=acme_subscription, demand=Demand(vms=1, vcpus=2), resource_type="test")
    invitation, raw = invitation_create(
        tenant=acme, email="newhire@acme.example", role=Role.READER, actor=alice
    )
    acme_token, alice_raw = api_token_create(
        tenant=acme,
        user=alice,
        name="acme-deploy-pipeline",
        role=Role.OWNER,
        expires_in_days=30,
        actor_role=Role.OWNER,
    )
    _, charlie_raw = api_token_create(
        tenant=globex,
        user=charlie,
        name="globex-token",
        role=Role.OWNER,
        expires_in_days=30,
        actor_role=Role.OWNER,
    )
    world = World(
        acme=acme,
        globex=globex,
        alice=alice,
        bob=bob,
        charlie=charlie,
        admin=admin,
        plan=plan,
        acme_private_plan=acme_private_plan,
        addon=addon,
        acme_subscription=acme_subscription,
        globex_subscription=globex_subscription,
        bob_membership=bob_membership,
        acme_invitation=invitation,
        acme_invitation_raw=raw,
        acme_token=acme_token,
        alice_token=alice_raw,
        charlie_token=charlie_raw,
    )
    world.secrets = [
        "Acme Rockets",
        "Acme moonshot production",
        "Acme negotiated deal",
        "Acme special",
        "alice@acme.example",
        "bob@acme.example",
        "Acmeowner",
        "Acmeoperator",
        "newhire@acme.example",
        "acme-deploy-pipeline",
        str(acme.pk),
        str(acme_subscription.pk),
        str(bob_membership.pk),
        str(invitation.pk),
        str(acme_token.pk),
        acme_token.prefix,
    ]
    _add_gallery(world)
    _add_compute(world)
    return world


def _add_gallery(world: World) -> None:
    """A gallery item and published version offered ONLY by Acme's private plan."""
    from gallery.models import VMSize
    from gallery.services import gallery_item_attach_plan, gallery_package_import, vm_size_create
    from tests.gallery.helpers import package

    for name, vcpus in (("small", 1), ("medium", 2)):
        if not VMSize.objects.filter(name=name).exists():
            vm_size_create(
                actor=world.admin,
                plans=[world.acme_private_plan],
                name=name,
                vcpus=vcpus,
                ram_gib=2 * vcpus,
                disk_gib=20 * vcpus,
            )
    doc = package()
    doc["item"].update(name="Acme secret appliance", slug="acme-secret-appliance")
    item = gallery_package_import(data=doc, actor=world.admin).item
    gallery_item_attach_plan(item=item, plan=world.acme_private_plan, actor=world.admin)
    world.acme_gallery_item = item
    world.acme_gallery_version = item.versions.get()
    world.secrets.append("Acme secret appliance")


def _add_compute(world: World) -> None:
    """A deployment of Acme's private item on "Acme special", placed on a host registered
    without asking a driver (no Redis needed): one VM still building, its deploy job queued."""
    from compute.models import Host
    from compute.services import deployment_create

    Host.objects.create(name="world-node", uri="sim://world-node", vcpus=64, ram_gib=256, disk_gib=4000)
    subscription = Subscription.objects.get(tenant=world.acme, name="Acme special")
    with transaction.atomic():
        deployment = deployment_create(
            tenant=world.acme,
            actor=world.alice,
            version=world.acme_gallery_version,
            subscription=subscription,
            values={},
            instance_count=1,
            name="acme-rocket-telemetry",
        )
    world.acme_deployment = deployment
    world.acme_vm = deployment.vms.get()
    world.acme_job = deployment.job
    world.secrets += [
        "acme-rocket-telemetry",
        str(deployment.pk),
        str(world.acme_vm.pk),
        str(deployment.job.pk),
    ]
