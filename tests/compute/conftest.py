"""Compute fixtures: a simulated fleet in real Redis (one key prefix per test), a host, and
the web-farm and linux-server samples offered by Acme's plan."""

from __future__ import annotations

import uuid

import pytest

from compute.drivers import reset_driver_cache, simulated_fleet
from compute.services import deployment_create, host_register
from gallery.models import GalleryItem, VMSize
from gallery.services import gallery_item_attach_plan, gallery_load_samples, vm_size_attach_plan
from portal import jobs
from portal.models import Job
from tests.backends import require_redis
from tests.gallery.helpers import ssh_key


@pytest.fixture
def fleet(settings):
    require_redis()
    settings.SIMULATED_CONTROLLER = {
        **settings.SIMULATED_CONTROLLER,
        "prefix": f"cloudstamp-test:{uuid.uuid4().hex[:12]}",
        "defaults": {"delays": {}},
    }
    reset_driver_cache()
    fleet = simulated_fleet()
    yield fleet
    fleet.reset()
    reset_driver_cache()


@pytest.fixture
def host(fleet, admin):
    return host_register(actor=admin, name="node-1", uri="sim://node-1?vcpus=32&ram_gib=128&disk_gib=4000")


@pytest.fixture
def offered(plan, admin):
    """The sample items and sizes, offered by ``plan`` (Acme's subscription's plan)."""
    gallery_load_samples(actor=admin)
    for item in GalleryItem.objects.all():
        gallery_item_attach_plan(item=item, plan=plan, actor=admin)
    for size in VMSize.objects.filter(name__in=["small", "medium", "large"]):
        vm_size_attach_plan(size=size, plan=plan, actor=admin)
    return {item.slug: item.versions.get(state="published") for item in GalleryItem.objects.all()}


@pytest.fixture
def sent(monkeypatch):
    """Broker messages the job engine sends (on commit), recorded instead of sent:
    (job id, Celery task id, countdown). Tests run jobs in-process with ``run_jobs``."""
    messages: list[tuple[str, str, float]] = []
    monkeypatch.setattr(
        jobs, "_send", lambda job_id, task_id, countdown=0: messages.append((str(job_id), task_id, countdown))
    )
    # A batch (one message for several jobs) is recorded as its jobs, with the shared task id.
    monkeypatch.setattr(
        jobs, "_send_batch", lambda job_ids, task_id: messages.extend((str(pk), task_id, 0) for pk in job_ids)
    )
    # Nothing reached the broker, so its queue holds none of these jobs: the sweeper may
    # re-send (tests of the backlog rule set their own).
    monkeypatch.setattr(jobs, "job_backlog", lambda: 0)
    return messages


@pytest.fixture
def deploy(acme, alice, acme_subscription, offered, host, sent):
    """Deploy a sample item for Acme as alice (the web farm with a valid SSH key by default);
    returns the Deployment, whose ``.job`` is the group job."""

    def deploy(count: int = 2, item: str = "web-farm", values: dict | None = None, **kwargs):
        return deployment_create(
            tenant=acme,
            actor=alice,
            version=offered[item],
            subscription=acme_subscription,
            values={"ssh_key": ssh_key()} if values is None else values,
            instance_count=count,
            **kwargs,
        )

    return deploy


def run_jobs(limit: int = 1000) -> dict[str, int]:
    """Run every runnable queued job in this process, as a worker would (the real job
    bodies; only the broker hop is skipped). Jobs that share a Celery task id were sent as
    one batch and run as one (``jobs.run_jobs``). Returns outcome counts."""
    outcomes: dict[str, int] = {}
    runnable = Job.objects.filter(state=Job.State.QUEUED).exclude(
        kind__in=["deploy", "scale_out", "scale_in", "delete_deployment"]
    )
    for _ in range(limit):
        job = runnable.order_by("created").first()
        if job is None:
            break
        batch = list(runnable.filter(celery_task_id=job.celery_task_id).values_list("pk", flat=True))
        if len(batch) > 1:
            ran = jobs.run_jobs(batch, worker="test").values()
        else:
            ran = [jobs.run_job(job.pk, worker="test")]
        for outcome in ran:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if not ran or list(ran) == ["skipped"]:
            break
    return outcomes
