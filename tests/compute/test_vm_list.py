"""The VM list page at scale: its queries (at most three, the same for 25 rows as for 100), the
compiled SQL against the ORM's, paging, the deployment filter's cache, the rows live.js reads,
and the sign-in shortcut behind it (portal.tenancy.AuthenticationMiddleware: the user and their
memberships in one query, with every check of django.contrib.auth.get_user).

The cast: alice owns Acme, bob operates in it, carol only reads; charlie owns Globex.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compute import selectors
from compute.models import Deployment, ResourceConfiguration, VirtualMachine
from compute.selectors import VM_LIST_COLUMNS, VM_ROW_COLUMNS, deployment_choices, vm_list_page, vm_rows_page
from gallery.models import VMSize
from portal.tenancy import SESSION_KEY as TENANT_SESSION_KEY
from tenants.models import Role, Tenant
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

VM = VirtualMachine
URL = "/compute/vms/"

# (provisioning, power, task, message): every kind of row the list draws, in turn.
STATES = [
    ("active", "running", "", ""),
    ("active", "shutdown", "", ""),
    ("building", "nostate", "spawning", ""),
    ("error", "nostate", "", "No valid host was found."),
    ("active", "running", "shutting_down", ""),
    ("active", "paused", "", ""),
]


def add_deployments(tenant, subscription, version, *, count: int, vms_each: int, start: int = 0):
    """``count`` deployments of ``vms_each`` VMs in every state, plus a deleted VM each that
    the list must skip; written directly (the services' quota and hosts are not the point)."""
    size = VMSize.objects.get(name="small")
    made = []
    for n in range(start, start + count):
        deployment = Deployment.objects.create(
            tenant=tenant,
            subscription=subscription,
            version=version,
            name=f"{tenant.slug}-farm-{n:03d}",
            hostname_prefix=f"farm{n}",
            size=size,
            instance_count=vms_each,
            state=Deployment.State.READY,
        )
        config = ResourceConfiguration.objects.create(deployment=deployment, number=1, values={})
        VM.objects.bulk_create(
            VM(
                tenant=tenant,
                subscription=subscription,
                deployment=deployment,
                configuration=config,
                index=i,
                name=f"{deployment.name}-{i:02d}",
                hostname=f"farm{n}-{i:02d}",
                size_name="small",
                vcpus=1,
                ram_gib=2,
                disk_gib=20,
                image="debian-12",
                provisioning_state=STATES[i % len(STATES)][0],
                power_state=STATES[i % len(STATES)][1],
                task_state=STATES[i % len(STATES)][2],
                message=STATES[i % len(STATES)][3],
            )
            for i in range(vms_each + 1)  # the last one is deleted
        )
        VM.objects.filter(deployment=deployment, index=vms_each).update(provisioning_state="deleted")
        made.append(deployment)
    return made


@pytest.fixture
def acme_vms(acme, acme_subscription, offered, globex, globex_subscription):
    """Acme: 12 deployments of 10 live VMs (120); Globex: 3 of 10, never to be seen by Acme."""
    add_deployments(globex, globex_subscription, offered["web-farm"], count=3, vms_each=10)
    return add_deployments(acme, acme_subscription, offered["web-farm"], count=12, vms_each=10)


def _signed_in(client, user):
    client.force_login(user)
    return client


def _queries(client, url: str) -> tuple[list[str], object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return [q["sql"] for q in captured.captured_queries], response


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr id="vm-([0-9a-f-]{36})"', html)


# --- queries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["carol", "bob"])
def test_the_vm_list_runs_the_same_few_queries_for_25_rows_as_for_100(client, acme_vms, user, request):
    c = _signed_in(client, request.getfixturevalue(user))
    counts = {}
    for per_page in (25, 100):
        url = f"{URL}?per_page={per_page}"
        c.get(url)  # unmeasured: the first request may fill caches
        sql, response = _queries(c, url)
        counts[per_page] = len(sql)
        assert len(_rows(response.content.decode())) == per_page
        assert response.context["page_obj"].paginator.count == 120
        # The session comes from the cache; the user and their memberships are one query.
        assert not any('"django_session"' in q for q in sql)
        assert sum('FROM "tenants_user"' in q for q in sql) == 1
        assert not any(q.lstrip().startswith('SELECT "tenants_membership"') for q in sql)
    assert counts[25] == counts[100] <= 3, counts


def test_a_new_or_deleted_deployment_shows_in_the_filter_at_once_for_one_query_more(
    client, acme, acme_subscription, offered, acme_vms, alice
):
    c = _signed_in(client, alice)
    c.get(URL)
    steady, response = _queries(c, URL)
    assert f'<option value="{acme_vms[0].pk}">{acme_vms[0].name}</option>' in response.content.decode()

    (added,) = add_deployments(acme, acme_subscription, offered["web-farm"], count=1, vms_each=1, start=50)
    after_change, response = _queries(c, URL)
    assert len(after_change) == len(steady) + 1 <= 3
    assert f'<option value="{added.pk}">{added.name}</option>' in response.content.decode()
    assert len(_queries(c, URL)[0]) == len(steady)  # listed again from the cache

    Deployment.objects.filter(pk=added.pk).update(state=Deployment.State.DELETED, updated=timezone.now())
    assert f'value="{added.pk}"' not in c.get(URL).content.decode()


def test_the_deployment_filter_offers_this_tenants_live_deployments_by_name(client, acme_vms, alice, globex):
    Deployment.objects.filter(pk=acme_vms[3].pk).update(
        state=Deployment.State.DELETED, updated=timezone.now()
    )
    html = _signed_in(client, alice).get(URL, {"deployment": str(acme_vms[1].pk)}).content.decode()
    select = html[
        html.index('id="vm-deployment"') : html.index("</select>", html.index('id="vm-deployment"'))
    ]
    names = re.findall(r'<option value="[^"]+"(?: selected)?>([^<]+)</option>', select)
    assert names == sorted(d.name for d in acme_vms if d != acme_vms[3])
    assert f'<option value="{acme_vms[1].pk}" selected>' in select
    assert "globex" not in select


def test_another_tenants_deployment_filters_to_nothing(client, acme_vms, alice, globex):
    theirs = Deployment.objects.filter(tenant=globex).first()
    response = _signed_in(client, alice).get(URL, {"deployment": str(theirs.pk)})
    assert _rows(response.content.decode()) == []
    assert "No virtual machine matches" in response.content.decode()


# --- the page's query: compiled SQL and the ORM ---------------------------------------------------


@pytest.mark.parametrize(
    "status", ["", "running", "shutdown", "building", "error", "paused", "shutting_down"]
)
@pytest.mark.parametrize("order", [("-created", "pk"), ("name", "pk"), ("-name", "pk")])
def test_the_compiled_page_query_returns_what_the_orm_returns(acme, acme_vms, monkeypatch, status, order):
    def page(**filters):
        return vm_rows_page(tenant=acme, order=order, offset=5, size=30, status=status, **filters)

    compiled = [page(), page(deployment=acme_vms[2].pk)]
    monkeypatch.setattr(selectors, "compile_once", lambda *args, **kwargs: None)
    assert [page(), page(deployment=acme_vms[2].pk)] == compiled
    rows, total, version = compiled[0]
    assert rows and all(set(row) == set(VM_ROW_COLUMNS) for row in rows)
    live = VM.objects.filter(tenant=acme).exclude(provisioning_state="deleted")
    assert total == (live.filter(selectors._status_filter(status)) if status else live).count()
    assert version[0] == 12  # live deployments


@pytest.mark.parametrize("status", ["", "running", "building", "error", "deleted", "shutting_down"])
def test_the_compiled_api_page_returns_what_the_orm_returns(acme, acme_vms, monkeypatch, status):
    gone = VM.objects.filter(tenant=acme).order_by("name").values_list("pk", flat=True)[:2]
    VM.objects.filter(pk__in=list(gone)).update(provisioning_state="deleted")

    def pages():
        return [
            vm_list_page(tenant=acme, offset=offset, size=30, status=status, **filters)
            for offset in (0, 5, 1000)
            for filters in ({}, {"deployment": acme_vms[2].pk})
        ]

    compiled = pages()
    monkeypatch.setattr(selectors, "compile_once", lambda *args, **kwargs: None)
    assert pages() == compiled
    rows, total = compiled[2]  # from the 6th row, no deployment filter
    listed = VM.objects.filter(tenant=acme)
    listed = (
        listed.filter(provisioning_state="deleted")
        if status == "deleted"
        else listed.exclude(provisioning_state="deleted")
    )
    if status:
        listed = listed.filter(selectors._status_filter(status))
    n = listed.count()
    assert total == (n if n > 5 else None)  # an empty page cannot tell
    assert [row["id"] for row in rows] == list(
        listed.order_by("-created", "name").values_list("pk", flat=True)[5:35]
    )
    assert all(set(row) == set(VM_LIST_COLUMNS) for row in rows)
    assert compiled[4] == ([], None)  # past the end: no row to tell the total


def test_a_search_lists_through_the_orm_what_the_filter_matches(acme, acme_vms):
    rows, total, _ = vm_rows_page(tenant=acme, order=("name", "pk"), offset=0, size=50, search="FARM-004-0")
    assert total == 10 and [r["name"] for r in rows] == [f"acme-farm-004-{i:02d}" for i in range(10)]


def test_pages_are_numbered_as_djangos_get_page_numbers_them(client, acme_vms, carol):
    c = _signed_in(client, carol)

    def page(number):
        response = c.get(URL, {"per_page": 25, "page": number})
        return response.context["page_obj"].number, len(_rows(response.content.decode()))

    assert page("2") == (2, 25)
    assert page("5") == (5, 20)  # the last one: 120 rows
    assert page("6") == (5, 20)  # out of range: the last page
    assert page("0") == (5, 20)  # as Paginator.get_page
    assert page("two") == (1, 25)
    first = c.get(URL, {"per_page": 25}).content.decode()
    assert "1–25 of 120" in first


def test_an_empty_search_says_so_and_counts_nothing(client, acme_vms, carol):
    response = _signed_in(client, carol).get(URL, {"q": "no-such-vm"})
    assert response.context["page_obj"].paginator.count == 0
    assert "No virtual machine matches" in response.content.decode()


def test_deployment_choices_without_a_version_are_read_every_time(acme, acme_vms, django_assert_num_queries):
    newest = sorted(((str(d.pk), d.name) for d in acme_vms[-5:]), key=lambda choice: choice[1])
    for _ in range(2):
        with django_assert_num_queries(1):
            assert deployment_choices(tenant=acme, limit=5) == tuple(newest)


# --- rows ------------------------------------------------------------------------------------------


class _Rows(HTMLParser):
    """Each <tr>'s attributes and the attributes of the elements inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.open = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and attrs.get("id", "").startswith("vm-"):
            self.rows.append({"tr": attrs, "inside": []})
            self.open = True
        elif self.open:
            self.rows[-1]["inside"].append((tag, attrs))

    def handle_endtag(self, tag):
        if tag == "tr":
            self.open = False


def _parsed(html: str) -> dict[str, dict]:
    parser = _Rows()
    parser.feed(html)
    return {row["tr"]["data-live-vm"]: row for row in parser.rows}


def test_each_row_carries_what_live_js_redraws_and_polls(client, acme_vms, bob):
    html = _signed_in(client, bob).get(URL, {"per_page": 100}).content.decode()
    rows = _parsed(html)
    assert len(rows) == 100
    for vm in VM.objects.filter(pk__in=rows.keys()).select_related("deployment"):
        row = rows[str(vm.pk)]
        tr = row["tr"]
        assert tr["id"] == f"vm-{vm.pk}" and tr["class"].split() == ["vm-row"]
        assert (tr["data-deployment"], tr["data-provisioning"], tr["data-power"], tr["data-task"]) == (
            str(vm.deployment_id),
            vm.provisioning_state,
            vm.power_state,
            vm.task_state,
        )
        busy = bool(vm.task_state) or vm.provisioning_state == "building"
        assert ("data-live-poll" in tr) == busy
        assert tr["hx-get"] == reverse("compute:vm-row", args=[vm.pk])
        assert (tr["hx-trigger"], tr["hx-swap"]) == ("live-poll", "outerHTML")
        inside = dict((tag, attrs) for tag, attrs in row["inside"] if tag in ("input", "time"))
        assert inside["input"]["id"] == f"check-{vm.pk}" and inside["input"]["value"] == str(vm.pk)
        assert inside["input"]["form"] == "bulk-form" and "hx-preserve" in inside["input"]
        assert inside["time"]["datetime"] == timezone.localtime(vm.created).isoformat()
        badges = [attrs for tag, attrs in row["inside"] if tag == "span" and "data-state" in attrs]
        assert [b["data-state"] for b in badges] == [vm.status]
        links = [attrs["href"] for tag, attrs in row["inside"] if tag == "a"]
        assert links == [
            reverse("compute:vm", args=[vm.pk]),
            reverse("compute:deployment", args=[vm.deployment_id]),
        ]
    assert 'data-vm-field="message" hidden>' in html and ">No valid host was found.</div>" in html


def test_a_reader_gets_no_checkboxes(client, acme_vms, carol):
    html = _signed_in(client, carol).get(URL).content.decode()
    assert len(_rows(html)) == 25 and "data-bulk-check" not in html and 'id="bulk-form"' not in html


def test_names_and_messages_are_escaped(client, acme_vms, bob):
    vm = acme_vms[-1].vms.order_by("index").first()
    VM.objects.filter(pk=vm.pk).update(
        name='<b>"x"</b>', message="<script>alert(1)</script>", created=timezone.now()
    )
    html = _signed_in(client, bob).get(URL).content.decode()
    assert "<b>" not in html and "<script>alert" not in html
    assert "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_row_partial_draws_a_deleted_vm_greyed_and_unselectable(client, acme_vms, bob):
    vm = acme_vms[0].vms.get(provisioning_state="deleted")
    html = _signed_in(client, bob).get(reverse("compute:vm-row", args=[vm.pk])).content.decode()
    row = _parsed(html)[str(vm.pk)]
    assert row["tr"]["class"].split() == ["vm-row", "vm-deleted"]
    assert "disabled" in dict(t for t in row["inside"] if t[0] == "input")["input"]
    in_deployment = client.get(reverse("compute:vm-row", args=[vm.pk]), {"in": "deployment"}).content.decode()
    row = _parsed(in_deployment)[str(vm.pk)]
    assert row["tr"]["hx-get"].endswith("?in=deployment")
    assert not any(tag in ("input", "time") for tag, _ in row["inside"])


# --- who is signed in ---------------------------------------------------------------------------


def _edit_session(client, **values) -> None:
    session = client.session
    for key, value in values.items():
        session[key] = value
    session.save()


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_session_with_another_auth_hash_is_signed_out_and_flushed(client, acme_vms, alice):
    c = _signed_in(client, alice)
    _edit_session(c, **{HASH_SESSION_KEY: "not-the-hash-of-alices-password"})
    assert _is_login_redirect(c.get(URL))
    assert SESSION_KEY not in c.session


def test_changing_the_password_signs_out_the_other_sessions(client, acme_vms, alice):
    c = _signed_in(client, alice)
    assert c.get(URL).status_code == 200
    alice.set_password("another-correct-horse-battery")
    alice.save()
    assert _is_login_redirect(c.get(URL))


def test_an_inactive_user_is_signed_out(client, acme_vms, alice):
    c = _signed_in(client, alice)
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    assert _is_login_redirect(c.get(URL))


def test_a_deleted_user_is_signed_out(client, acme_vms, charlie):
    c = _signed_in(client, charlie)
    type(charlie).objects.filter(pk=charlie.pk).delete()
    assert _is_login_redirect(c.get(URL))


def test_a_session_of_a_backend_no_longer_configured_is_signed_out(client, acme_vms, alice, settings):
    c = _signed_in(client, alice)
    _edit_session(c, **{BACKEND_SESSION_KEY: "django.contrib.auth.backends.AllowAllUsersModelBackend"})
    assert _is_login_redirect(c.get(URL))


def test_a_session_signed_with_a_previous_secret_key_stays_signed_in_with_a_new_key(
    client, acme_vms, alice, settings
):
    old_secret = "a-previous-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    c = _signed_in(client, alice)
    _edit_session(c, **{HASH_SESSION_KEY: alice._get_session_auth_hash(secret=old_secret)})
    before = c.session.session_key
    assert c.get(URL).status_code == 200
    assert c.session.session_key != before
    assert c.session[HASH_SESSION_KEY] == alice.get_session_auth_hash()


def test_another_tenants_id_in_the_session_is_not_usable(client, acme_vms, alice, globex):
    c = _signed_in(client, alice)
    _edit_session(c, **{TENANT_SESSION_KEY: str(globex.pk)})
    response = c.get(URL)
    assert response.context["tenant_context"].tenant.slug == "acme"
    html = response.content.decode()
    assert "acme-farm-000" in html and "globex-farm" not in html


def test_a_membership_of_a_disabled_tenant_is_not_usable(client, acme_vms, alice, globex):
    MembershipFactory(tenant=globex, user=alice, role=Role.OWNER)
    Tenant.objects.filter(pk=globex.pk).update(state=Tenant.State.DISABLED)
    c = _signed_in(client, alice)
    _edit_session(c, **{TENANT_SESSION_KEY: str(globex.pk)})
    response = c.get(URL)
    assert [m.tenant.slug for m in response.context["memberships"]] == ["acme"]
    assert "globex-farm" not in response.content.decode()


def test_the_tenant_switcher_lists_every_active_membership_by_name(client, acme_vms, alice, globex):
    initech = TenantFactory(name="Initech", slug="initech")
    MembershipFactory(tenant=globex, user=alice, role=Role.READER)
    MembershipFactory(tenant=initech, user=alice, role=Role.OPERATOR)
    c = _signed_in(client, alice)
    _edit_session(c, **{TENANT_SESSION_KEY: str(initech.pk)})
    response = c.get(URL)
    memberships = response.context["memberships"]
    assert [(m.tenant.name, m.role) for m in memberships] == [
        ("Acme", "owner"),
        ("Globex", "reader"),
        ("Initech", "operator"),
    ]
    assert all(m.user.pk == alice.pk for m in memberships)
    assert (response.context["tenant_context"].tenant.name, response.context["tenant_context"].role) == (
        "Initech",
        "operator",
    )


def test_a_user_without_a_tenant_goes_to_onboarding(client, db):
    c = _signed_in(client, UserFactory())
    response = c.get(URL)
    assert response.status_code == 302 and response["Location"] == reverse("tenants:onboarding")


def test_sessions_are_kept_in_the_database_and_read_through_the_cache(client, alice):
    assert django_settings.SESSION_ENGINE == "portal.sessions"
    from django.contrib.sessions.models import Session

    c = _signed_in(client, alice)
    assert Session.objects.filter(session_key=c.session.session_key).exists()
