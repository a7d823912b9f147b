"""/api/v1/admin/gallery/… and /api/v1/admin/vm-sizes/…: service admins curate the gallery
(items, versions and their life cycle, sizes, plan offers, packages) by session; tenant
users and every token get 403 and change nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gallery.models import GalleryItem, GalleryItemVersion, VMSize
from portal.models import AuditEvent
from tests.api.conftest import Api, make_token
from tests.factories import PlanFactory
from tests.gallery.helpers import make_version, package, resource
from tests.ownership.routes import all_routes, fill

pytestmark = pytest.mark.django_db

GALLERY_ROUTES = sorted(
    (name, route)
    for name, route in all_routes().items()
    if name.startswith(("api:admin-gallery-", "api:admin-vm-size-"))
)


@pytest.fixture
def sizes(db) -> dict[str, VMSize]:
    specs = [("small", 1, 2, 20), ("medium", 2, 4, 40), ("large", 4, 8, 80)]
    return {name: VMSize.objects.create(name=name, vcpus=c, ram_gib=r, disk_gib=d) for name, c, r, d in specs}


@pytest.fixture
def item(db) -> GalleryItem:
    return GalleryItem.objects.create(name="Tiny server", slug="tiny", publisher="Tests Inc.", category="os")


@pytest.fixture
def draft(item, sizes) -> GalleryItemVersion:
    return make_version(item, "1.0.0", state="draft")


def version_url(version: GalleryItemVersion, suffix: str = "") -> str:
    return f"/admin/gallery/items/{version.item_id}/versions/{version.pk}/{suffix}"


def import_raw(api: Api, body: bytes | str, content_type: str = "application/json"):
    return api.client.post("/api/v1/admin/gallery/import/", body, content_type=content_type)


# --- who may call it -------------------------------------------------------------------------------


def test_there_is_a_route_for_every_gallery_action():
    assert len(GALLERY_ROUTES) == 13


@pytest.mark.parametrize(("name", "route"), GALLERY_ROUTES, ids=[n for n, _ in GALLERY_ROUTES])
def test_tenant_users_tenant_tokens_and_visitors_are_refused(name, route, alice, acme, plan, draft, sizes):
    values = {"pk": draft.item_id, "version_pk": draft.pk, "plan_pk": plan.pk}
    if name.startswith("api:admin-vm-size-"):
        values["pk"] = sizes["small"].pk
    path = fill(route.pattern, values)
    session, token, anonymous = Api(user=alice), Api(token=make_token(alice, acme)), Api()
    before = AuditEvent.objects.count()
    payload = package() if name == "api:admin-gallery-import" else {"name": "Hijacked", "notes": "x"}

    def send(api: Api, method: str):
        return getattr(api, method)(path, *([payload] if method in ("post", "put", "patch") else []))

    for method in route.methods():
        assert send(session, method).status_code == 403, f"{method} {path} as a tenant user"
        assert send(token, method).status_code == 403, f"{method} {path} with a tenant token"
        assert send(anonymous, method).status_code == 401, f"{method} {path} anonymously"
    assert AuditEvent.objects.count() == before
    assert GalleryItem.objects.get().name == "Tiny server"
    assert GalleryItemVersion.objects.get().state == "draft"
    assert not plan.gallery_items.exists() and not plan.sizes.exists()


def test_an_admins_own_session_works_and_the_schema_lists_it_as_session_only(api_admin, client):
    assert api_admin.get("/admin/gallery/items/").status_code == 200
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/admin/gallery/import/"]["post"]
    assert operation["security"] == [{"cookieAuth": []}]
    assert {"200", "201", "400", "409"} <= set(operation["responses"])


# --- items -----------------------------------------------------------------------------------------


def test_admins_list_items_with_counts_plans_and_filters(api_admin, item, sizes, plan):
    make_version(item, "1.0.0")
    make_version(item, "1.1.0", state="draft")
    item.plans.add(plan)
    GalleryItem.objects.create(
        name="Windows box", slug="win", publisher="MS", category="os", os_family="windows"
    )
    GalleryItem.objects.create(name="Postgres", slug="pg", publisher="PGDG", category="database")
    body = api_admin.get("/admin/gallery/items/").json()
    assert body["count"] == 3
    rows = {row["slug"]: row for row in body["results"]}
    tiny = rows["tiny"]
    assert (tiny["version_count"], tiny["published_count"], tiny["draft_count"]) == (2, 1, 1)
    assert tiny["plans"] == [{"id": str(plan.pk), "name": "Standard"}]
    slugs = lambda **p: [r["slug"] for r in api_admin.get("/admin/gallery/items/", **p).json()["results"]]  # noqa: E731
    assert slugs(category="database") == ["pg"]
    assert slugs(os_family="windows") == ["win"]
    assert slugs(q="tests inc") == ["tiny"]
    assert slugs(q="PG") == ["pg"]
    assert api_admin.get("/admin/gallery/items/", category="games").status_code == 400


def _items(n: int, plans) -> None:
    for _ in range(n):
        i = GalleryItem.objects.count()
        item = GalleryItem.objects.create(name=f"Item {i:03}", slug=f"item-{i}", publisher="Tests")
        item.plans.add(*plans)
        make_version(item, "1.0.0")
        make_version(item, "2.0.0", state="draft")


def _count_queries(api: Api, path: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path)
    assert response.status_code == 200
    return len(queries), response.json()


def test_the_item_list_runs_the_same_queries_for_2_or_20_items(api_admin, sizes):
    plans = [PlanFactory(), PlanFactory()]
    _items(2, plans)
    few, body = _count_queries(api_admin, "/admin/gallery/items/")
    assert body["count"] == 2
    _items(18, plans)
    many, body = _count_queries(api_admin, "/admin/gallery/items/")
    assert body["count"] == 20 and len(body["results"][19]["plans"]) == 2
    assert many == few
    # The user (the session comes from the cache), then the page (with its total) and the
    # page's plans.
    assert few == 3, f"{few} queries for one page of items"


def test_the_size_list_runs_the_same_queries_for_2_or_20_sizes(api_admin):
    plans = [PlanFactory(), PlanFactory()]

    def add(n: int) -> None:
        for _ in range(n):
            i = VMSize.objects.count()
            VMSize.objects.create(name=f"s{i}", vcpus=i + 1, ram_gib=2, disk_gib=20).plans.add(*plans)

    add(2)
    few, _ = _count_queries(api_admin, "/admin/vm-sizes/")
    add(18)
    many, body = _count_queries(api_admin, "/admin/vm-sizes/")
    assert body["count"] == 20
    assert many == few == 3  # the user, the page, its plans (the session comes from the cache)


def test_admins_create_an_item_offered_to_plans(api_admin, plan, admin):
    response = api_admin.post(
        "/admin/gallery/items/",
        {
            "name": "Debian 12",
            "slug": "debian-12",
            "publisher": "Debian",
            "category": "os",
            "icon": "hdd-stack",
            "plans": [str(plan.pk)],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "debian-12" and body["versions"] == []
    assert [p["id"] for p in body["plans"]] == [str(plan.pk)]
    item = GalleryItem.objects.get(slug="debian-12")
    assert item.created_by == admin
    assert AuditEvent.objects.filter(action="gallery.item_create", target_id=str(item.pk)).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slug": "new", "publisher": "P"}, "name"),
        ({"name": "New", "slug": "tiny", "publisher": "P"}, "slug"),  # taken
        ({"name": "New", "slug": "new", "publisher": "P", "icon": "Not An Icon"}, "icon"),
        ({"name": "New", "slug": "new", "publisher": "P", "category": "games"}, "category"),
        ({"name": "New", "slug": "new", "publisher": "P", "plans": [str(uuid.uuid4())]}, "plans"),
    ],
)
def test_bad_items_are_400_on_the_field_and_nothing_is_stored(api_admin, item, payload, field):
    response = api_admin.post("/admin/gallery/items/", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert list(GalleryItem.objects.values_list("slug", flat=True)) == ["tiny"]


def test_an_item_detail_has_every_version_newest_first_and_its_plans(api_admin, item, sizes, plan):
    make_version(item, "1.0.0", state="deprecated")
    make_version(item, "1.2.0")
    make_version(item, "1.10.0", state="draft")
    item.plans.add(plan)
    body = api_admin.get(f"/admin/gallery/items/{item.pk}/").json()
    assert [(v["version"], v["state"]) for v in body["versions"]] == [
        ("1.10.0", "draft"),
        ("1.2.0", "published"),
        ("1.0.0", "deprecated"),
    ]
    assert body["versions"][0]["sizes"] == ["small", "medium"]
    assert [p["id"] for p in body["plans"]] == [str(plan.pk)]


def test_admins_update_an_item(api_admin, item):
    response = api_admin.patch(
        f"/admin/gallery/items/{item.pk}/", {"description": "Small.", "os_family": "other"}
    )
    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert (item.description, item.os_family, item.name) == ("Small.", "other", "Tiny server")
    assert api_admin.patch(f"/admin/gallery/items/{item.pk}/", {"slug": "Not a slug!"}).status_code == 400


def test_an_unknown_item_is_404(api_admin):
    missing = uuid.uuid4()
    assert api_admin.get(f"/admin/gallery/items/{missing}/").status_code == 404
    assert api_admin.patch(f"/admin/gallery/items/{missing}/", {"name": "x"}).status_code == 404
    assert api_admin.get(f"/admin/gallery/items/{missing}/export/").status_code == 404
    assert api_admin.post(f"/admin/gallery/items/{missing}/versions/", {}).status_code == 404


# --- packages --------------------------------------------------------------------------------------


def test_importing_a_package_creates_the_item_and_its_versions(api_admin, sizes, admin):
    doc = package()
    second = json.loads(json.dumps(doc["versions"][0]))
    second.update(version="1.1.0", state="draft")
    doc["versions"].append(second)
    response = api_admin.post("/admin/gallery/import/", doc)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True
    assert body["versions_created"] == ["1.0.0", "1.1.0"]
    assert body["item"]["slug"] == "tiny"
    assert [(v["version"], v["state"]) for v in body["item"]["versions"]] == [
        ("1.1.0", "draft"),
        ("1.0.0", "published"),
    ]
    assert AuditEvent.objects.filter(action="gallery.import", actor=admin).count() == 1


def test_importing_the_same_package_again_changes_nothing(api_admin, sizes):
    assert api_admin.post("/admin/gallery/import/", package()).status_code == 201
    response = api_admin.post("/admin/gallery/import/", package())
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["versions_created"], body["versions_unchanged"]) == (False, [], ["1.0.0"])
    assert GalleryItemVersion.objects.count() == 1


def test_an_exported_package_imports_back_to_the_same_item(api_admin, sizes):
    doc = package()
    doc["item"]["description"] = "Ünïcode survives."
    api_admin.post("/admin/gallery/import/", doc)
    item = GalleryItem.objects.get()
    response = api_admin.get(f"/admin/gallery/items/{item.pk}/export/")
    assert response.status_code == 200
    exported = response.json()
    assert exported["item"] == doc["item"]
    assert exported["versions"][0]["parameters"] == doc["versions"][0]["parameters"]
    again = api_admin.post("/admin/gallery/import/", exported).json()
    assert again["versions_unchanged"] == ["1.0.0"] and again["item_changes"] == []
    assert AuditEvent.objects.filter(action="gallery.export", target_id=str(item.pk)).exists()


def _unknown_keys() -> dict:
    doc = package()
    doc["item"]["colour"] = "red"
    doc["versions"][0]["resource"]["cpu_model"] = "host"
    return doc


def _duplicate_versions() -> dict:
    doc = package()
    doc["versions"].append(json.loads(json.dumps(doc["versions"][0])))
    return doc


def _every_layer() -> dict:
    """Three problems in different places: all of them come back at once."""
    doc = _duplicate_versions()
    doc["item"]["colour"] = "red"
    doc["versions"][0]["resource"] = resource(sizes=["small", "huge"])
    return doc


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"format": "cloudstamp.gallery-package",', {"$": "line 1, column 41"}),
        (b'{"item": {}, "item": {}}', {"$": "the key 'item' appears twice"}),
        (b"\xff\xfe not utf-8", {"$": "not UTF-8"}),
        (b"[]", {"$": "must be an object"}),
        (b"", {"$.item": "is required", "$.versions": "is required"}),
        (
            _unknown_keys(),
            {"$.item.colour": "unknown key", "$.versions[0].resource.cpu_model": "unknown key"},
        ),
        (
            _duplicate_versions(),
            {"$.versions[1].version": "duplicate version 1.0.0: already at $.versions[0]"},
        ),
        (
            _every_layer(),
            {
                "$.item.colour": "unknown key",
                "$.versions[0].resource.sizes[1]": "no VM size named 'huge'",
                "$.versions[1].version": "duplicate version 1.0.0",
            },
        ),
    ],
    ids=[
        "syntax",
        "repeated-key",
        "encoding",
        "not-an-object",
        "empty",
        "unknown-keys",
        "dup-version",
        "all",
    ],
)
def test_a_bad_package_is_400_with_every_problem_at_its_path_and_nothing_is_stored(
    api_admin, sizes, body, expected
):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = import_raw(api_admin, raw)
    assert response.status_code == 400, response.content
    errors = response.json()
    for path, fragment in expected.items():
        assert path in errors, f"{path} missing from {errors}"
        assert any(fragment in message for message in errors[path]), errors[path]
    if len(expected) > 1:
        assert set(expected) <= set(errors)
    assert not GalleryItem.objects.exists()
    assert not GalleryItemVersion.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="gallery.").exists()


def test_a_stored_version_with_other_content_fails_the_whole_import(api_admin, sizes):
    api_admin.post("/admin/gallery/import/", package())
    doc = package()
    doc["item"]["name"] = "Renamed"
    doc["versions"][0]["notes"] = "same content, notes do not count"
    doc["versions"][0]["resource"]["nic_count"] = 2
    extra = json.loads(json.dumps(doc["versions"][0]))
    extra["version"] = "2.0.0"
    doc["versions"].append(extra)
    response = api_admin.post("/admin/gallery/import/", doc)
    assert response.status_code == 400
    assert "already exists with different content" in response.json()["$.versions[0].version"][0]
    # All or nothing: neither the new version nor the item's new name was stored.
    assert list(GalleryItemVersion.objects.values_list("major", flat=True)) == [1]
    assert GalleryItem.objects.get().name == "Tiny server"


def test_a_package_must_be_sent_as_json(api_admin, sizes):
    response = import_raw(api_admin, json.dumps(package()), content_type="text/plain")
    assert response.status_code == 415
    assert not GalleryItem.objects.exists()


def test_a_package_over_the_size_limit_is_refused(api_admin, sizes):
    doc = package()
    doc["item"]["description"] = "x" * (1024 * 1024)
    response = import_raw(api_admin, json.dumps(doc))
    assert response.status_code == 400
    assert "larger than 1 MiB" in response.json()["$"][0]


# --- versions --------------------------------------------------------------------------------------


def _version_body(number: str = "2.0.0", **overrides) -> dict:
    doc = package()["versions"][0]
    return {
        "version": number,
        "resource_definition": doc["resource"],
        "parameter_definition": doc["parameters"],
        "resource_extension": doc["extension"],
        "notes": "Second release.",
        **overrides,
    }


def test_admins_add_a_draft_version_and_read_it_back(api_admin, item, sizes, admin):
    response = api_admin.post(f"/admin/gallery/items/{item.pk}/versions/", _version_body())
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["version"], body["state"], body["is_editable"]) == ("2.0.0", "draft", True)
    assert body["item"] == str(item.pk)
    version = GalleryItemVersion.objects.get(pk=body["id"])
    assert version.created_by == admin
    detail = api_admin.get(version_url(version)).json()
    assert detail["resource_definition"]["sizes"] == ["small", "medium"]
    assert detail["parameter_definition"] == _version_body()["parameter_definition"]


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"version": "2.0"}, "version", "major.minor.build"),
        # The draft fixture holds 1.0.0. (The model's unique check answers before the service's
        # friendlier message under "version" can: see gallery_version_create.)
        ({"version": "1.0.0"}, "non_field_errors", "already exists"),
        ({"resource_definition": {"image": "x"}}, "resource_definition", "$"),
        ({"resource_definition": resource(nic_count="two")}, "resource_definition", "$.nic_count"),
        ({"parameter_definition": []}, "parameter_definition", ""),
        ({"default_language": "English!"}, "default_language", ""),
    ],
)
def test_bad_versions_are_400_on_the_field_and_nothing_is_stored(
    api_admin, draft, overrides, field, fragment
):
    response = api_admin.post(f"/admin/gallery/items/{draft.item_id}/versions/", _version_body(**overrides))
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert any(fragment in message for message in errors[field]), errors
    assert GalleryItemVersion.objects.count() == 1


def test_a_draft_can_be_edited_and_deleted(api_admin, draft):
    response = api_admin.patch(version_url(draft), {"notes": "Fixed a typo.", "default_language": "de"})
    assert response.status_code == 200, response.content
    assert (response.json()["notes"], response.json()["default_language"]) == ("Fixed a typo.", "de")
    bad = api_admin.patch(version_url(draft), {"resource_definition": resource(default_size=5)})
    assert bad.status_code == 400 and "$.default_size" in bad.json()["resource_definition"][0]
    assert api_admin.delete(version_url(draft)).status_code == 204
    assert not GalleryItemVersion.objects.exists()
    assert api_admin.get(version_url(draft)).status_code == 404


def test_the_version_life_cycle_and_its_409s(api_admin, draft):
    def act(action: str):
        return api_admin.post(version_url(draft, f"{action}/"))

    assert act("unpublish").status_code == 409
    assert act("deprecate").status_code == 409
    published = act("publish")
    assert published.status_code == 200, published.content
    assert published.json()["state"] == "published" and published.json()["published_at"]
    conflict = act("publish")
    assert conflict.status_code == 409 and conflict.json()["code"] == "cannot_publish"
    # Published versions are immutable.
    edit = api_admin.patch(version_url(draft), {"notes": "sneaky"})
    assert edit.status_code == 409 and edit.json()["code"] == "version_immutable"
    assert api_admin.delete(version_url(draft)).status_code == 409
    assert act("deprecate").json()["state"] == "deprecated"
    assert act("deprecate").status_code == 409
    assert act("unpublish").status_code == 409
    assert act("publish").json()["state"] == "published"  # back from deprecated
    assert act("unpublish").json()["state"] == "draft"
    draft.refresh_from_db()
    assert draft.state == "draft" and draft.notes == ""
    actions = list(AuditEvent.objects.filter(target_id=str(draft.pk)).values_list("action", flat=True))
    assert sorted(actions) == sorted(
        ["gallery.version_" + a for a in ("publish", "deprecate", "publish", "unpublish")]
    )


def test_publishing_runs_every_check_and_leaves_a_failing_draft_alone(api_admin, item, sizes):
    # The schema is satisfied, so the draft saves; the size does not exist, so it cannot publish.
    version = make_version(
        item, "3.0.0", state="draft", resource_definition=resource(sizes=["small", "huge"])
    )
    response = api_admin.post(version_url(version, "publish/"))
    assert response.status_code == 400
    assert "no VM size named 'huge'" in response.json()["resource_definition"][0]
    version.refresh_from_db()
    assert version.state == "draft"


def test_a_version_is_found_only_under_its_own_item(api_admin, draft):
    other = GalleryItem.objects.create(name="Other", slug="other", publisher="P")
    wrong = f"/admin/gallery/items/{other.pk}/versions/{draft.pk}/"
    assert api_admin.get(wrong).status_code == 404
    assert api_admin.post(f"{wrong}publish/").status_code == 404
    assert api_admin.delete(wrong).status_code == 404
    assert GalleryItemVersion.objects.filter(pk=draft.pk, state="draft").exists()


# --- plan offers -----------------------------------------------------------------------------------


def test_offering_an_item_to_a_plan_is_idempotent(api_admin, item, plan):
    url = f"/admin/gallery/items/{item.pk}/plans/{plan.pk}/"
    assert api_admin.put(url).status_code == 204
    assert api_admin.put(url).status_code == 204
    assert [p["id"] for p in api_admin.get(f"/admin/gallery/items/{item.pk}/").json()["plans"]] == [
        str(plan.pk)
    ]
    assert api_admin.delete(url).status_code == 204
    assert api_admin.delete(url).status_code == 204
    assert not item.plans.exists()
    # Only real changes are audited.
    assert list(
        AuditEvent.objects.filter(action__startswith="gallery.item_")
        .order_by("created")
        .values_list("action", flat=True)
    ) == ["gallery.item_attach", "gallery.item_detach"]


def test_offering_a_size_to_a_plan_is_idempotent(api_admin, sizes, plan):
    small = sizes["small"]
    url = f"/admin/vm-sizes/{small.pk}/plans/{plan.pk}/"
    assert api_admin.put(url).status_code == 204
    assert api_admin.put(url).status_code == 204
    assert [p["name"] for p in api_admin.get(f"/admin/vm-sizes/{small.pk}/").json()["plans"]] == ["Standard"]
    assert api_admin.delete(url).status_code == 204
    assert not small.plans.exists()


def test_offers_to_unknown_plans_items_or_sizes_are_404(api_admin, item, sizes, plan):
    missing = uuid.uuid4()
    assert api_admin.put(f"/admin/gallery/items/{item.pk}/plans/{missing}/").status_code == 404
    assert api_admin.put(f"/admin/gallery/items/{missing}/plans/{plan.pk}/").status_code == 404
    assert api_admin.delete(f"/admin/vm-sizes/{missing}/plans/{plan.pk}/").status_code == 404
    # A size's id is not an item's.
    assert api_admin.put(f"/admin/gallery/items/{sizes['small'].pk}/plans/{plan.pk}/").status_code == 404


# --- VM sizes --------------------------------------------------------------------------------------


def test_admins_list_sizes_smallest_first_and_filter_by_state(api_admin, sizes):
    VMSize.objects.filter(name="large").update(state="retired")
    body = api_admin.get("/admin/vm-sizes/").json()
    assert [s["name"] for s in body["results"]] == ["small", "medium", "large"]
    assert body["results"][0]["summary"] == "1 vCPU, 2 GiB RAM, 20 GiB disk"
    assert [s["name"] for s in api_admin.get("/admin/vm-sizes/", state="retired").json()["results"]] == [
        "large"
    ]
    assert api_admin.get("/admin/vm-sizes/", state="melted").status_code == 400


def test_admins_create_a_size_offered_to_plans(api_admin, plan):
    response = api_admin.post(
        "/admin/vm-sizes/",
        {"name": "huge", "vcpus": 16, "ram_gib": 64, "disk_gib": 200, "plans": [str(plan.pk)]},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["state"], [p["id"] for p in body["plans"]]) == (
        "huge",
        "active",
        [str(plan.pk)],
    )
    assert AuditEvent.objects.filter(action="gallery.size_create").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "small", "vcpus": 1, "ram_gib": 1, "disk_gib": 1}, "name"),  # taken
        ({"name": "Big One", "vcpus": 1, "ram_gib": 1, "disk_gib": 1}, "name"),
        ({"name": "zero", "vcpus": 0, "ram_gib": 1, "disk_gib": 1}, "vcpus"),
        ({"name": "nodisk", "vcpus": 1, "ram_gib": 1}, "disk_gib"),
    ],
)
def test_bad_sizes_are_400_on_the_field_and_nothing_is_stored(api_admin, sizes, payload, field):
    response = api_admin.post("/admin/vm-sizes/", payload)
    assert response.status_code == 400
    assert field in response.json()
    assert VMSize.objects.count() == 3


def test_admins_update_a_size_but_not_rename_one_in_use(api_admin, item, sizes):
    small, large = sizes["small"], sizes["large"]
    make_version(item)  # lists small and medium
    response = api_admin.patch(f"/admin/vm-sizes/{small.pk}/", {"ram_gib": 3, "state": "retired"})
    assert response.status_code == 200, response.content
    assert (response.json()["ram_gib"], response.json()["state"]) == (3, "retired")
    renamed = api_admin.patch(f"/admin/vm-sizes/{small.pk}/", {"name": "tiny"})
    assert renamed.status_code == 409 and renamed.json()["code"] == "size_in_use"
    assert api_admin.patch(f"/admin/vm-sizes/{large.pk}/", {"name": "big"}).json()["name"] == "big"
    assert api_admin.get(f"/admin/vm-sizes/{uuid.uuid4()}/").status_code == 404
