from __future__ import annotations

import pytest

from compute import services
from compute.models import Deployment
from portal.models import Job
from subscriptions.models import Allocation
from tests.compute.conftest import run_jobs
from tests.gallery.helpers import ssh_key

pytestmark = pytest.mark.django_db


def test_deploy_runs_to_active(alice, acme, acme_subscription, offered, host, fleet):
    version = offered["web-farm"]
    deployment = services.deployment_create(
        tenant=acme,
        actor=alice,
        version=version,
        subscription=acme_subscription,
        values={"ssh_key": ssh_key()},
        instance_count=3,
    )
    assert deployment.vms.count() == 3
    assert Allocation.objects.filter(subscription=acme_subscription).count() == 3
    print(run_jobs())
    deployment.refresh_from_db()
    assert deployment.state == Deployment.State.READY, deployment.state
    assert set(deployment.vms.values_list("provisioning_state", "power_state")) == {("active", "running")}
    assert len(fleet.all_vms()) == 3
    group = Job.objects.get(kind="deploy")
    assert group.state == "succeeded" and group.progress == 100
