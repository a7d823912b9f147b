"""In a real browser: the deployment and VM pages follow provisioning live, with no reload.

pytest-django's ``live_server`` speaks WSGI and cannot upgrade the live-events WebSocket, so
these tests serve the real ASGI application (HTTP and WebSocket: portal.asgi) with uvicorn in
a thread of the test process, over the Redis channel layer: the jobs run in another thread
(tests/compute/conftest.run_jobs, the real job bodies; only the broker hop is skipped) and
publish their events through Redis to the consumer that feeds the page.

- live: a tenant opens a 3-VM deployment while its jobs are queued; the jobs run with a
  simulated spawn delay; the "current operation" bar steps up and each VM's badge turns from
  Spawning to Running, drawn from the socket's events (no request is made, no reload);
- fallback: with the socket refused, the same page polls the small partials of what is
  still in progress and gets there too;
- a VM page: a shutdown queued from its button turns the badge to Stopped and enables Start,
  live;
- end to end (PostgreSQL): the gallery wizard's Deploy button queues 5 VMs, a real Celery
  worker process (tests/workers.py) provisions them and publishes through Redis, and the
  deployment page the browser lands on follows it to the end.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connections, transaction
from playwright.sync_api import expect

from compute import services
from compute.models import Deployment, VirtualMachine
from portal import jobs
from portal.models import Job
from tests.backends import require_redis
from tests.browser.conftest import PASSWORD, SCREENSHOTS, TIMEOUT_MS, Problems, _watch
from tests.compute import conftest as compute_fixtures
from tests.compute.conftest import run_jobs
from tests.gallery.helpers import ssh_key
from tests.workers import worker_pool

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SPAWN_SECONDS = 0.8
VMS = 3

# The compute fixtures: a simulated fleet in Redis (a prefix of its own), a host, the samples.
fleet = compute_fixtures.fleet
host = compute_fixtures.host
offered = compute_fixtures.offered


@pytest.fixture
def redis_layer(settings) -> str:
    """The Redis channel layer, under a prefix of our own (other runs and a dev server may
    share this Redis); returns the prefix."""
    url = require_redis()
    prefix = f"cstest-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": prefix, "expiry": 10},
        }
    }
    return prefix


@pytest.fixture
def asgi_url(redis_layer) -> Iterator[str]:
    """The portal's ASGI application served by uvicorn in a thread; yields its base URL."""
    import uvicorn

    from portal.asgi import application

    config = uvicorn.Config(application, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def in_process_jobs(monkeypatch):
    # Jobs are run by the test (run_jobs), not by a worker: enqueueing would only leave
    # messages in the test broker for some later worker to skip, and the heartbeat thread
    # (for the sweeper, which does not run here) would only be one more writer.
    monkeypatch.setattr(jobs, "_send", lambda *args, **kwargs: None)
    monkeypatch.setattr(jobs.heartbeat, "add", lambda *args, **kwargs: None)


@pytest.fixture(autouse=True)
def sqlite_readers_do_not_wait():
    """On SQLite the test database lives in memory with a shared cache, where a reader meets
    a writer's table lock with an immediate "database table is locked" (no busy timeout
    applies). The pages read while the worker thread writes, so their connections read
    uncommitted rows instead; PostgreSQL (CI) needs nothing of the kind."""
    from django.db.backends.signals import connection_created

    def read_uncommitted(sender, connection, **kwargs) -> None:
        if connection.vendor == "sqlite":
            connection.connection.execute("PRAGMA read_uncommitted = true")

    connection_created.connect(read_uncommitted)
    yield
    connection_created.disconnect(read_uncommitted)


@pytest.fixture
def live_page(browser, asgi_url, problems: Problems) -> Iterator:
    context = browser.new_context(base_url=asgi_url, viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    # Under uvicorn the favicon comes a little later than under live_server, late enough for
    # the sign-in's navigation to overtake it now and then.
    problems.allow(r"favicon\.svg \(net::ERR_ABORTED\)", "a favicon fetch overtaken by the next navigation")
    page = context.new_page()
    _watch(page, problems)
    try:
        yield page
    finally:
        context.close()
    unexpected = problems.unexpected()
    assert not unexpected, "The browser saw problems:\n" + "\n".join(unexpected)


@pytest.fixture
def shot(live_page, request) -> Callable[[str], Path]:
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    def take(name: str) -> Path:
        live_page.wait_for_timeout(700)  # Bootstrap's bars take 0.6 s to reach a new width
        path = folder / f"{name}.png"
        live_page.screenshot(path=str(path), full_page=True)
        return path

    return take


def sign_in(page, user) -> None:
    page.goto("/accounts/login/")
    form = page.locator("form[action='/accounts/login/']")
    form.locator("input[name=username]").fill(user.email)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


class Worker(threading.Thread):
    """``work()`` (by default run_jobs()) in a thread of its own, as a worker process would:
    its own database connection, and events published from outside the event loop that
    Playwright keeps in the test's thread (where asgiref refuses to publish)."""

    def __init__(self, work: Callable = run_jobs) -> None:
        super().__init__(name="test-worker", daemon=True)
        self.work = work
        self.result = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as exc:  # noqa: BLE001 (re-raised in the test's thread by finish())
            self.error = exc
        finally:
            connections.close_all()

    def finish(self):
        self.join(timeout=60)
        assert not self.is_alive(), "the work did not finish"
        if self.error:
            raise self.error
        return self.result


def in_thread(work: Callable):
    worker = Worker(work)
    worker.start()
    return worker.finish()


@pytest.fixture
def farm(alice, acme, acme_subscription, offered, host, fleet, in_process_jobs) -> Deployment:
    fleet.configure(delays={"ensure_vm": SPAWN_SECONDS})

    def deploy() -> Deployment:
        with transaction.atomic():
            return services.deployment_create(
                tenant=acme,
                actor=alice,
                version=offered["web-farm"],
                subscription=acme_subscription,
                values={"ssh_key": ssh_key()},
                instance_count=VMS,
                name="shop-frontend",
            )

    return in_thread(deploy)


# Records, in the page, every value the operation's bar and the VM badges take: proof of the
# steps in between, whatever the timing of the assertions.
RECORDER = """() => {
  window.__seen = {bar: [], badges: []};
  window.__loaded = "original page";
  const bar = () => document.querySelector(".current-operation [role=progressbar]");
  const badges = () => Array.from(document.querySelectorAll("tr[data-live-vm] [data-vm-status]")).map(b => b.textContent.trim()).join(",");
  const note = () => {
    const value = bar() && bar().getAttribute("aria-valuenow");
    if (value !== null && window.__seen.bar[window.__seen.bar.length - 1] !== value) window.__seen.bar.push(value);
    const now = badges();
    if (window.__seen.badges[window.__seen.badges.length - 1] !== now) window.__seen.badges.push(now);
  };
  note();
  new MutationObserver(note).observe(document.querySelector("main"), {subtree: true, childList: true, attributes: true, characterData: true});
}"""


def open_deployment(page, deployment) -> None:
    page.goto(f"/compute/deployments/{deployment.pk}/")
    expect(page.locator("h1")).to_have_text(deployment.name)
    expect(page.locator(".current-operation")).to_be_visible()
    expect(page.locator("tr[data-live-vm]")).to_have_count(VMS)


@pytest.fixture
def two_per_batch(settings):
    """The farm's 3 VMs go to the worker as a batch of two and one job alone: the page sees
    a batch come up, then the last VM (both paths of the engine, live)."""
    settings.JOB_BATCH_SIZE = 2


def test_the_deployment_page_follows_provisioning_live(live_page, shot, alice, two_per_batch, farm):
    page = live_page
    sign_in(page, alice)
    open_deployment(page, farm)
    # The socket is up: the page said so on <body>, and the catch-up poll has answered.
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    page.wait_for_load_state("networkidle")
    badges = page.locator("tr[data-live-vm] [data-vm-status]")
    expect(badges.filter(has_text="Spawning")).to_have_count(VMS)
    bar = page.locator(".current-operation [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    shot("01_deploying_queued")

    page.evaluate(RECORDER)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    worker = Worker()
    worker.start()

    # Part way: the first batch up, the bar two thirds of the way, the last VM still spawning.
    expect(badges.filter(has_text="Running")).to_have_count(2, timeout=10_000)
    expect(bar).not_to_have_attribute("aria-valuenow", "0")
    shot("02_first_batch_running")

    assert worker.finish() == {"succeeded": VMS}
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(badges.filter(has_text="Running")).to_have_count(VMS)
    expect(page.locator("[data-live-deployment] [data-deployment-state]")).to_have_text("Ready")
    expect(page.locator(".current-operation [data-job-state]")).to_have_text("Succeeded")
    expect(page.locator(".current-operation .progress-bar")).to_have_class(re.compile(r"\bbg-success\b"))
    # Now that it is ready, the scale slider is enabled; the finished job cannot be cancelled.
    expect(page.locator("fieldset[data-deployment-scalable]")).to_be_enabled()
    expect(page.get_by_role("button", name="Cancel Deploy shop-frontend")).to_be_hidden()
    shot("03_ready")

    seen = page.evaluate("window.__seen")
    assert page.evaluate("window.__loaded") == "original page", "the page was reloaded"
    assert seen["bar"] == ["0", "66", "100"], seen["bar"]  # the batch of two, then the last
    assert seen["badges"][0] == ",".join(["Spawning"] * VMS)
    assert seen["badges"][-1] == ",".join(["Running"] * VMS)
    # The batch came up together, before the last VM (whichever rows they are).
    assert any(b.split(",").count("Running") == 2 for b in seen["badges"]), seen["badges"]
    # Everything came through the socket: no polling, no fetch of any partial.
    assert requests == [], requests
    assert set(farm.vms.values_list("provisioning_state", "power_state")) == {("active", "running")}


def test_with_the_socket_down_the_page_polls_its_partials(live_page, shot, alice, farm):
    page = live_page
    # The socket is refused every time: app.js marks the page disconnected and retries.
    page.route_web_socket(re.compile(r"/ws/events/$"), lambda ws: ws.close(code=1011, reason="down"))
    sign_in(page, alice)
    open_deployment(page, farm)
    expect(page.locator("body")).to_have_attribute("data-live", "disconnected")
    page.evaluate(RECORDER)
    polled: list[str] = []
    page.on("request", lambda r: polled.append(r.url))

    worker = Worker()
    worker.start()
    assert worker.finish() == {"succeeded": VMS}
    bar = page.locator(".current-operation [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=10_000)
    expect(page.locator("tr[data-live-vm] [data-vm-status]").filter(has_text="Running")).to_have_count(VMS)
    expect(page.locator("[data-live-deployment] [data-deployment-state]")).to_have_text("Ready")
    expect(page.locator("fieldset[data-deployment-scalable]")).to_be_enabled()
    expect(page.get_by_role("button", name="Cancel Deploy shop-frontend")).to_be_hidden()
    shot("01_caught_up_by_polling")
    assert page.evaluate("window.__loaded") == "original page", "the page was reloaded"
    assert any("/progress/" in url for url in polled) and any("/row/" in url for url in polled), polled
    # Once nothing is in progress, polling stops.
    page.wait_for_timeout(3500)
    count = len(polled)
    page.wait_for_timeout(3500)
    assert len(polled) == count, polled[count:]


def test_a_vm_page_follows_a_shutdown_live(live_page, shot, alice, farm):
    page = live_page
    assert in_thread(run_jobs) == {"succeeded": VMS}
    vm = farm.vms.order_by("index").first()
    sign_in(page, alice)
    page.goto(f"/compute/vms/{vm.pk}/")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    actions = page.get_by_role("group", name=f"Actions on {vm.name}")
    expect(actions.get_by_role("button", name="Start")).to_be_disabled()
    actions.get_by_role("button", name="Shut down").click()
    page.wait_for_url(f"**/compute/vms/{vm.pk}/")
    expect(page.locator(".messages")).to_contain_text(f"Shut down: queued for {vm.name}.")
    status = page.locator(".page-header [data-vm-status]")
    expect(status).to_have_text("Shutting down")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    page.wait_for_load_state("networkidle")
    shot("01_shutting_down")
    page.evaluate("window.__loaded = 'original page'")

    worker = Worker()
    worker.start()
    assert worker.finish() == {"succeeded": 1}
    expect(status).to_have_text("Stopped")
    expect(page.locator("#vm-state [data-vm-field=power]")).to_have_text("Stopped")
    expect(actions.get_by_role("button", name="Start")).to_be_enabled()
    expect(actions.get_by_role("button", name="Shut down")).to_be_disabled()
    expect(page.locator(".current-operation [data-job-state]")).to_have_text("Succeeded")
    expect(page.locator(".current-operation [data-job-step]")).to_have_text("")  # done: no step
    expect(page.get_by_role("button", name=f"Cancel Shut down {vm.name}")).to_be_hidden()
    assert page.evaluate("window.__loaded") == "original page"
    shot("02_stopped")
    assert VirtualMachine.objects.get(pk=vm.pk).power_state == "shutdown"


def test_a_tenant_browses_the_lists_and_acts_on_vms_in_bulk(live_page, shot, alice, farm):
    page = live_page
    assert in_thread(run_jobs) == {"succeeded": VMS}
    sign_in(page, alice)
    page.locator("#topnav").get_by_role("link", name="Deployments").click()
    page.wait_for_url("**/compute/deployments/")
    row = page.locator("tr[data-live-deployment-row]")
    expect(row).to_have_count(1)
    expect(row.locator(".vm-counts")).to_contain_text(f"{VMS} of {VMS} running")
    shot("01_deployments")

    page.locator("#topnav").get_by_role("link", name="Virtual machines").click()
    page.wait_for_url("**/compute/vms/")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    bulk = page.locator("#bulk-form")
    shutdown = bulk.get_by_role("button", name="Shut down")
    expect(shutdown).to_be_disabled()  # nothing selected yet
    page.get_by_label("Select every virtual machine on this page").check()
    expect(bulk.locator("[data-bulk-count]")).to_have_text(str(VMS))
    expect(shutdown).to_be_enabled()
    shot("02_vms_selected")
    shutdown.click()
    page.wait_for_url("**/compute/vms/")
    expect(page.locator(".messages")).to_contain_text(f"Shut down: queued for {VMS} virtual machine(s).")
    badges = page.locator("tr[data-live-vm] [data-vm-status]")
    expect(badges.filter(has_text="Shutting down")).to_have_count(VMS)
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    page.wait_for_load_state("networkidle")
    page.evaluate("window.__loaded = 'original page'")
    assert in_thread(run_jobs) == {"succeeded": VMS}
    expect(badges.filter(has_text="Stopped")).to_have_count(VMS)
    assert page.evaluate("window.__loaded") == "original page"
    shot("03_vms_stopped_live")

    # One that fits and one that does not: the message says which was skipped and why.
    first = page.locator("tr[data-live-vm]").nth(0)
    second = page.locator("tr[data-live-vm]").nth(1)
    first.get_by_role("checkbox").check()
    second.get_by_role("checkbox").check()
    name = second.locator("a").first.inner_text()
    # Someone else starts the second meanwhile (its badge follows), so the bulk start skips it.
    second_id = second.get_attribute("data-live-vm")
    in_thread(
        lambda: services.vm_power(vm=VirtualMachine.objects.get(pk=second_id), action="start", actor=alice)
    )
    expect(second.locator("[data-vm-status]")).to_have_text("Starting")
    bulk.get_by_role("button", name="Start").click()
    page.wait_for_url("**/compute/vms/")
    messages = page.locator(".messages")
    expect(messages).to_contain_text("Start: queued for 1 virtual machine(s).")
    expect(messages).to_contain_text(f"Skipped 1: Cannot start {name}: it is busy (starting).")
    # Once connected, the page catches up by fetching its busy rows once: let that finish
    # before leaving the page, or the next navigation aborts it.
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    page.wait_for_load_state("networkidle")
    shot("04_bulk_skipped")

    # Bulk delete asks first and names what is lost.
    page.locator("tr[data-live-vm]").nth(2).get_by_role("checkbox").check()
    bulk.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("The 1 selected virtual machine(s) and their disks are destroyed")
    shot("05_bulk_delete_confirm")
    dialog.get_by_role("button", name="Delete").click()
    page.wait_for_url("**/compute/vms/")
    expect(page.locator(".messages")).to_contain_text("Delete: queued for 1 virtual machine(s).")

    page.locator("#topnav").get_by_role("link", name="Jobs").click()
    page.wait_for_url("**/compute/jobs/")
    expect(page.locator("table.job-table tbody tr")).to_have_count(1 + VMS + 2 + 1)
    shot("06_jobs")
    page.locator("table.job-table").get_by_role("link", name="Deploy").click()
    expect(page.locator("h1")).to_contain_text("Deploy")
    expect(page.locator("section[aria-labelledby=children-title] [data-live-job]")).to_have_count(VMS)
    shot("07_job_detail")


@pytest.fixture
def workers(transactional_db, redis_layer, fleet, settings, tmp_path):
    with worker_pool(fleet=fleet, settings=settings, log_dir=tmp_path) as pool:
        # The worker publishes to the browsers through the same Redis channel layer.
        pool.env.update(CHANNELS_REDIS="true", CHANNELS_PREFIX=redis_layer)
        yield pool


def test_a_real_worker_deploys_from_the_wizard_and_the_page_follows(
    workers, live_page, shot, alice, acme_subscription, offered, host, fleet, two_per_batch
):
    page = live_page
    # One batch at a time (two VMs, then two, then one), a second each: the bar has steps to
    # show. (The spawns of a batch run side by side and end together.)
    fleet.configure(delays={"ensure_vm": 1.0})
    workers.start(concurrency=1)
    version = offered["web-farm"]
    sign_in(page, alice)
    page.goto(f"/gallery/{version.item_id}/versions/{version.pk}/deploy/")
    page.get_by_label("SSH public key").fill(ssh_key())
    page.get_by_role("spinbutton", name="Instances").fill("5")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review")).to_contain_text("Everything checks out and fits your quota.")
    page.get_by_role("button", name="Deploy").click()
    page.wait_for_url(re.compile(r"/compute/deployments/[0-9a-f-]{36}/$"))
    deployment = Deployment.objects.get()
    expect(page.locator(".messages")).to_contain_text(f"Deploying {deployment.name}")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    page.evaluate(RECORDER)
    shot("01_landed_on_the_deployment")

    bar = page.locator(".current-operation [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    badges = page.locator("tr[data-live-vm] [data-vm-status]")
    expect(badges.filter(has_text="Running")).to_have_count(5)
    expect(page.locator("[data-live-deployment] [data-deployment-state]")).to_have_text("Ready")
    shot("02_ready")
    seen = page.evaluate("window.__seen")
    assert page.evaluate("window.__loaded") == "original page", "the page was reloaded"
    steps = [v for v in seen["bar"] if v not in ("0", "100")]
    assert len(steps) >= 2, seen["bar"]  # it moved, one batch at a time
    assert seen["badges"][-1] == ",".join(["Running"] * 5)
    assert workers.workers[0].hostname in set(
        Job.objects.filter(kind="create_vm").values_list("worker", flat=True)
    )
