from __future__ import annotations

import pytest
from django.utils import timezone

from compute.models import Host
from gallery.models import GalleryItem, VMSize
from portal.models import Job
from tests.factories import AddOnFactory
from tests.gallery.helpers import make_version, resource


@pytest.fixture
def addon(plan):
    return AddOnFactory(name="Extra compute", plans=[plan])


@pytest.fixture
def vm_size(db):
    return VMSize.objects.create(name="small", vcpus=1, ram_gib=2, disk_gib=20)


@pytest.fixture
def gallery_draft(vm_size):
    """A draft version of a gallery item that runs on ``vm_size``."""
    item = GalleryItem.objects.create(name="Tiny server", slug="tiny", publisher="Tests Inc.", category="os")
    return make_version(item, "1.0.0", state="draft", resource_definition=resource(sizes=["small"]))


@pytest.fixture
def page_kwargs(acme, alice, plan, addon, acme_subscription, gallery_draft, vm_size) -> dict[str, dict]:
    """URL arguments for every admin page that addresses an object."""
    return {
        "tenant_detail": {"pk": acme.pk},
        "tenant_disable": {"pk": acme.pk},
        "tenant_enable": {"pk": acme.pk},
        "user_detail": {"pk": alice.pk},
        "user_deactivate": {"pk": alice.pk},
        "user_activate": {"pk": alice.pk},
        "plan_detail": {"pk": plan.pk},
        "plan_edit": {"pk": plan.pk},
        "addon_edit": {"pk": addon.pk},
        "subscription_detail": {"pk": acme_subscription.pk},
        "subscription_suspend": {"pk": acme_subscription.pk},
        "subscription_reactivate": {"pk": acme_subscription.pk},
        "subscription_cancel": {"pk": acme_subscription.pk},
        **_gallery_kwargs(gallery_draft, vm_size, plan),
        **_compute_kwargs(acme),
    }


def _compute_kwargs(tenant) -> dict[str, dict]:
    """A host and a failed job, as rows (the pages read them without calling a driver)."""
    host = Host.objects.create(name="node-9", uri="sim://node-9?vcpus=4", vcpus=4)
    job = Job.objects.create(
        tenant=tenant,
        kind="create_vm",
        target_type="virtualmachine",
        target_id=host.pk,
        target_repr="web-1",
        state=Job.State.FAILED,
        detail="attempt 1: no such image",
        deadline=timezone.now(),
    )
    return {
        **{name: {"pk": host.pk} for name in ("host_detail", "host_state", "host_refresh", "host_delete")},
        **{name: {"pk": job.pk} for name in ("job_detail", "job_retry", "job_cancel")},
    }


def _gallery_kwargs(version, size, plan) -> dict[str, dict]:
    item = {"pk": version.item_id}
    in_version = {"pk": version.item_id, "version_pk": version.pk}
    actions = ("edit", "delete", "publish", "unpublish", "deprecate", "preview", "preview_fields")
    return {
        **dict.fromkeys(
            ("gallery_item_detail", "gallery_item_edit", "gallery_item_export", "gallery_item_plan_attach"),
            item,
        ),
        "gallery_version_create": item,
        "gallery_item_plan_detach": {**item, "plan_pk": plan.pk},
        **{f"gallery_version_{action}": in_version for action in actions},
        "vm_size_edit": {"pk": size.pk},
        "vm_size_plan_attach": {"pk": size.pk},
        "vm_size_plan_detach": {"pk": size.pk, "plan_pk": plan.pk},
    }
