"""Package import and export: every problem with its JSON path, nothing stored unless valid,
round trips, and the sample packages."""

from __future__ import annotations

import json

import pytest

from gallery.models import GalleryItem, GalleryItemVersion, VMSize
from gallery.packages import (
    MAX_PACKAGE_BYTES,
    PackageInvalid,
    dumps_package,
    export_package,
    load_package,
    parse_package,
)
from gallery.services import gallery_load_samples, gallery_package_export, gallery_package_import
from portal.models import AuditEvent
from tests.gallery.helpers import SAMPLES, definition, package, param, sample


def _paths(exc: PackageInvalid) -> dict[str, list[str]]:
    return {p.path: [q.message for q in exc.problems if q.path == p.path] for p in exc.problems}


def _refused(data, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(PackageInvalid) as info:
        gallery_package_import(data=data, **kwargs)
    assert not GalleryItem.objects.exists() and not GalleryItemVersion.objects.exists()
    return _paths(info.value)


# --- parsing ---------------------------------------------------------------------------------


def test_malformed_json_is_reported_with_line_and_column(admin, sizes):
    text = '{\n  "format": "cloudstamp.gallery-package",\n  "item": {,\n}'
    assert _refused(text, actor=admin) == {
        "$": ["line 3, column 12: Expecting property name enclosed in double quotes"]
    }


def test_a_package_over_one_mib_is_refused_before_parsing(admin, sizes):
    huge = b'{"pad": "' + b"x" * MAX_PACKAGE_BYTES + b'"}'
    assert _refused(huge, actor=admin) == {"$": ["the package is larger than 1 MiB (1048576 bytes)"]}


def test_an_already_parsed_package_over_one_mib_is_refused_too(admin, sizes):
    doc = package()
    doc["versions"][0]["notes"] = "x" * MAX_PACKAGE_BYTES
    assert _refused(doc, actor=admin) == {"$": ["the package is larger than 1 MiB (1048576 bytes)"]}


def test_deep_nesting_is_refused_without_exhausting_the_stack(admin, sizes):
    assert _refused("[" * 100_000 + "]" * 100_000, actor=admin) == {
        "$": ["the package nests deeper than 32 levels"]
    }
    assert _refused("[" * 40 + "]" * 40, actor=admin) == {"$": ["the package nests deeper than 32 levels"]}


def test_text_that_is_not_utf8_names_its_position(admin, sizes):
    assert _refused(b'{\n "a": "\xff"}', actor=admin) == {
        "$": ["line 2, column 8: the package is not UTF-8 text"]
    }


def test_repeated_keys_and_nan_are_refused():
    with pytest.raises(PackageInvalid) as info:
        parse_package('{"item": 1, "item": 2}')
    assert [str(p) for p in info.value.problems] == ["$: the key 'item' appears twice in one object"]
    with pytest.raises(PackageInvalid) as info:
        parse_package('{"x": NaN}')
    assert [str(p) for p in info.value.problems] == ["$: NaN is not allowed in JSON"]


# --- schema and semantics --------------------------------------------------------------------


def test_wrong_types_and_unknown_keys_are_all_reported_with_paths(admin, sizes):
    doc = package()
    doc["item"]["colour"] = "blue"
    doc["item"]["category"] = "games"
    version = doc["versions"][0]
    version["resource"]["instance_count"]["max"] = "three"
    version["parameters"]["sections"][0]["parameters"][0]["regex"] = 42
    version["parameters"]["sections"][0]["parameters"][1]["flavour"] = "x"
    version["extension"]["script"] = "echo"
    errors = _refused(json.dumps(doc), actor=admin)
    assert errors == {
        "$.item.category": [
            'must be one of "os", "web", "database", "cluster", "developer", "other"; got "games"'
        ],
        "$.item.colour": ["unknown key"],
        "$.versions[0].extension.script": ["unknown key"],
        "$.versions[0].parameters.sections[0].parameters[0].regex": ["must be a string, not a whole number"],
        "$.versions[0].parameters.sections[0].parameters[1].flavour": ["unknown key"],
        "$.versions[0].resource.instance_count.max": ["must be a whole number, not a string"],
    }


def test_missing_keys_are_reported_where_they_belong(admin, sizes):
    doc = package()
    del doc["item"]["slug"]
    del doc["versions"][0]["resource"]
    errors = _refused(doc, actor=admin)
    assert errors == {"$.item.slug": ["is required"], "$.versions[0].resource": ["is required"]}


def test_cyclic_and_missing_visible_if_references_are_reported(admin, sizes):
    doc = package()
    doc["versions"][0]["parameters"] = definition(
        param("a", visible_if={"param": "b", "equals": "x"}),
        param("b", visible_if={"param": "a", "equals": "x"}),
        param("c", visible_if={"all": [{"param": "a", "equals": "x"}, {"param": "ghost", "equals": True}]}),
    )
    doc["versions"][0]["extension"] = {}
    errors = _refused(doc, actor=admin)
    assert errors == {
        "$.versions[0].parameters.sections[0].parameters[1].visible_if": ["dependency cycle: a → b → a"],
        "$.versions[0].parameters.sections[0].parameters[2].visible_if.all[1].param": [
            "visible_if refers to 'ghost', which is not a parameter of this definition"
        ],
    }


def test_duplicate_versions_are_reported(admin, sizes):
    doc = package()
    doc["versions"] = [
        doc["versions"][0],
        {**doc["versions"][0], "notes": "again"},
        {**doc["versions"][0], "version": "1.0.1"},
    ]
    assert _refused(doc, actor=admin) == {
        "$.versions[1].version": ["duplicate version 1.0.0: already at $.versions[0]"]
    }


def test_extension_placeholders_and_resource_references_are_checked(admin, sizes):
    doc = package()
    version = doc["versions"][0]
    version["extension"]["user_data"] = "#cloud-config\na: {{ nobody | yaml }}\nb: {{ admin_user }}\n"
    version["resource"].update(
        image={"param": "admin_user"},
        sizes=["small", "jumbo"],
        default_size="large",
        instance_count={"min": 2, "max": 5, "default": 6},
        data_disks=[{"name": "data", "size_gib": 10, "size_gib_param": "tls"}],
    )
    errors = _refused(doc, actor=admin)
    assert errors == {
        "$.versions[0].extension.user_data": [
            "line 2, column 4: unknown parameter 'nobody'",
            "line 3, column 4: 'admin_user' is free text (string): write {{ admin_user | yaml }} (or | json, | shell) "
            "so that its value cannot break the document",
        ],
        "$.versions[0].resource.data_disks[0].size_gib_param": ["'tls' is not an integer parameter"],
        "$.versions[0].resource.default_size": ["'large' is not one of sizes"],
        "$.versions[0].resource.image.param": ["'admin_user' is not a choice parameter"],
        "$.versions[0].resource.instance_count.default": ["must lie between min (2) and max (5)"],
        "$.versions[0].resource.sizes[1]": ["no VM size named 'jumbo' exists here; create it first"],
    }


def test_errors_in_many_versions_are_reported_together_in_path_order(admin, sizes):
    versions = []
    for i in range(12):
        v = package()["versions"][0]
        v["version"] = f"1.0.{i}"
        v["parameters"]["sections"][0]["parameters"][0]["default"] = "UPPER"
        versions.append(v)
    errors = _refused(package(versions=versions), actor=admin)
    assert list(errors) == [
        f"$.versions[{i}].parameters.sections[0].parameters[0].default" for i in range(12)
    ]


def test_the_api_sees_the_problems_as_field_errors():
    with pytest.raises(PackageInvalid) as info:
        load_package("[]")
    assert info.value.message_dict == {"$": ["must be an object, not a list"]}


# --- import, export, round trip --------------------------------------------------------------


def test_a_valid_package_imports_with_its_states_and_an_audit_event(admin, sizes):
    result = gallery_package_import(data=json.dumps(package()), actor=admin)
    item = GalleryItem.objects.get(slug="tiny")
    assert result.created and result.item == item and result.versions_created == ["1.0.0"]
    version = item.versions.get()
    assert version.state == "published" and version.published_at is not None and version.version == "1.0.0"
    event = AuditEvent.objects.get(action="gallery.import")
    assert event.tenant is None and event.actor == admin and event.data["versions_created"] == ["1.0.0"]


def test_export_imports_back_to_an_identical_item(admin, sizes):
    first = gallery_package_import(data=(SAMPLES / "linux-server.json").read_bytes(), actor=admin).item
    exported = gallery_package_export(item=first, actor=admin)
    text = dumps_package(exported)
    GalleryItem.objects.all().delete()
    again = gallery_package_import(data=text, actor=admin).item
    assert export_package(again, again.versions.all()) == exported
    assert exported == sample("linux-server")
    assert [(v.version, v.state) for v in again.versions.order_by("major", "minor", "build")] == [
        ("1.0.0", "deprecated"),
        ("1.1.0", "published"),
    ]


def test_importing_the_same_package_twice_changes_nothing(admin, sizes):
    gallery_package_import(data=json.dumps(package()), actor=admin)
    result = gallery_package_import(data=json.dumps(package()), actor=admin)
    assert not result.changed and result.versions_unchanged == ["1.0.0"]
    assert GalleryItemVersion.objects.count() == 1
    assert AuditEvent.objects.filter(action="gallery.import").count() == 1


def test_a_new_version_is_added_to_the_existing_item(admin, sizes):
    gallery_package_import(data=package(), actor=admin)
    doc = package()
    doc["item"]["name"] = "Tiny server, renamed"
    doc["versions"].append({**doc["versions"][0], "version": "1.1.0", "state": "draft"})
    result = gallery_package_import(data=doc, actor=admin)
    assert result.versions_created == ["1.1.0"] and result.item_changes["name"] == [
        "Tiny server",
        "Tiny server, renamed",
    ]
    assert GalleryItem.objects.get().name == "Tiny server, renamed"


def test_the_same_number_with_other_content_is_refused_and_nothing_changes(admin, sizes):
    gallery_package_import(data=package(), actor=admin)
    doc = package()
    doc["item"]["name"] = "Should not be stored"
    doc["versions"][0]["resource"]["nic_count"] = 2
    doc["versions"].append({**package()["versions"][0], "version": "2.0.0"})
    with pytest.raises(PackageInvalid) as info:
        gallery_package_import(data=doc, actor=admin)
    assert _paths(info.value) == {
        "$.versions[0].version": [
            "version 1.0.0 of tiny already exists with different content; give the changed version a new number"
        ]
    }
    assert GalleryItem.objects.get().name == "Tiny server"
    assert GalleryItemVersion.objects.count() == 1


# --- samples -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_each_sample_package_passes_every_check(path):
    checked = load_package(path.read_bytes(), known_sizes={"small", "medium", "large", "xlarge"})
    assert checked.versions
    assert dumps_package(json.loads(path.read_text())) == path.read_text()


def test_the_samples_load_idempotently_with_the_sizes_they_need(admin):
    results = gallery_load_samples(actor=admin)
    assert sorted(r.item.slug for r in results) == ["linux-server", "postgresql", "web-farm", "web-server"]
    assert set(VMSize.objects.values_list("name", flat=True)) == {"small", "medium", "large", "xlarge"}
    assert GalleryItemVersion.objects.count() == 5
    events = AuditEvent.objects.count()
    again = gallery_load_samples(actor=admin)
    assert not any(r.changed for r in again)
    assert AuditEvent.objects.count() == events
    farm = GalleryItem.objects.get(slug="web-farm").versions.get()
    assert farm.instance_bounds == (2, 10, 2)
