"""Gallery services: items, the version life cycle, immutability, sizes, plan offerings."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from gallery.models import GalleryItem, GalleryItemVersion, VMSize
from gallery.parameters import DefinitionError
from gallery.services import (
    gallery_item_attach_plan,
    gallery_item_create,
    gallery_item_detach_plan,
    gallery_item_update,
    gallery_version_create,
    gallery_version_delete,
    gallery_version_deprecate,
    gallery_version_publish,
    gallery_version_unpublish,
    gallery_version_update,
    vm_size_attach_plan,
    vm_size_create,
    vm_size_detach_plan,
    vm_size_update,
)
from portal.errors import Conflict
from portal.models import AuditEvent
from tests.gallery.helpers import definition, make_version, package, param


def _draft(item, admin, number: str = "1.0.0", **overrides) -> GalleryItemVersion:
    doc = package()["versions"][0]
    data = {
        "resource_definition": doc["resource"],
        "parameter_definition": doc["parameters"],
        "resource_extension": doc["extension"],
    }
    return gallery_version_create(item=item, actor=admin, version=number, **{**data, **overrides})


# --- items -----------------------------------------------------------------------------------


def test_an_admin_creates_and_updates_an_item_with_audit_events(admin, plan):
    item = gallery_item_create(
        actor=admin, plans=[plan], name="Tiny", slug="tiny", publisher="Us", category="os", icon="terminal"
    )
    assert item.created_by == admin and list(item.plans.all()) == [plan]
    gallery_item_update(item=item, actor=admin, description="Now with words.")
    events = AuditEvent.objects.filter(tenant=None).order_by("created", "id")
    assert [e.action for e in events] == ["gallery.item_create", "gallery.item_update"]
    assert events[1].data == {"changed": {"description": ["", "Now with words."]}}


def test_item_fields_are_validated(admin):
    with pytest.raises(ValidationError) as info:
        gallery_item_create(actor=admin, name="X", slug="Not a slug", publisher="Us", icon="<b>")
    assert set(info.value.message_dict) == {"slug", "icon"}
    with pytest.raises(ValidationError) as info:
        gallery_item_create(actor=admin, name="X", slug="x", publisher="Us", colour="red")
    assert info.value.message_dict == {"colour": ["Unknown field."]}


# --- versions --------------------------------------------------------------------------------


def test_a_version_starts_as_a_draft(item, admin):
    version = _draft(item, admin, "2.3.4")
    assert (version.state, version.version, version.number) == ("draft", "2.3.4", (2, 3, 4))
    assert AuditEvent.objects.filter(action="gallery.version_create", target_id=str(version.pk)).exists()


def test_a_version_number_is_unique_per_item(item, admin):
    _draft(item, admin)
    with pytest.raises(ValidationError):
        _draft(item, admin)


def test_a_bad_version_number_is_refused(item, admin):
    with pytest.raises(ValidationError) as info:
        _draft(item, admin, "1.0")
    assert "version" in info.value.message_dict


def test_a_draft_must_have_the_right_shape(item, admin):
    with pytest.raises(ValidationError) as info:
        _draft(
            item, admin, parameter_definition={"sections": [{"name": "s"}]}, resource_extension={"script": 1}
        )
    assert info.value.message_dict == {
        "parameter_definition": ["$.sections[0].label: is required", "$.sections[0].parameters: is required"],
        "resource_extension": ["$.script: unknown key"],
    }


def test_a_draft_may_be_incomplete_but_cannot_be_published_so(item, admin, sizes):
    version = _draft(
        item, admin, parameter_definition=definition(param("a", visible_if={"param": "ghost", "equals": "x"}))
    )
    with pytest.raises(ValidationError) as info:
        gallery_version_publish(version=version, actor=admin)
    assert info.value.message_dict == {
        "parameter_definition": [
            "$.sections[0].parameters[0].visible_if.param: visible_if refers to 'ghost', which is not a parameter of this definition"
        ]
    }
    version.refresh_from_db()
    assert version.state == "draft"


def test_publishing_checks_that_the_sizes_exist(item, admin):
    version = _draft(item, admin)
    with pytest.raises(ValidationError) as info:
        gallery_version_publish(version=version, actor=admin)
    assert (
        info.value.message_dict["resource_definition"][0]
        == "$.sizes[0]: no VM size named 'small' exists here; create it first"
    )


def test_the_life_cycle_runs_draft_published_deprecated_and_back(item, admin, sizes):
    version = _draft(item, admin)
    gallery_version_publish(version=version, actor=admin)
    assert version.state == "published" and version.published_at is not None
    first_published = version.published_at
    gallery_version_deprecate(version=version, actor=admin)
    assert version.state == "deprecated"
    gallery_version_publish(version=version, actor=admin)
    assert version.state == "published" and version.published_at == first_published
    gallery_version_unpublish(version=version, actor=admin)
    assert version.state == "draft"
    actions = list(
        AuditEvent.objects.filter(target_id=str(version.pk))
        .order_by("created", "id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "gallery.version_create",
        "gallery.version_publish",
        "gallery.version_deprecate",
        "gallery.version_publish",
        "gallery.version_unpublish",
    ]


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("draft", gallery_version_deprecate),
        ("draft", gallery_version_unpublish),
        ("published", gallery_version_publish),
        ("deprecated", gallery_version_deprecate),
        ("deprecated", gallery_version_unpublish),
    ],
)
def test_a_transition_from_the_wrong_state_is_a_conflict(item, admin, sizes, state, action):
    version = make_version(item, state=state)
    with pytest.raises(Conflict):
        action(version=version, actor=admin)
    version.refresh_from_db()
    assert version.state == state


def test_a_stale_copy_cannot_publish_twice(item, admin, sizes):
    version = _draft(item, admin)
    stale = GalleryItemVersion.objects.get(pk=version.pk)
    gallery_version_publish(version=version, actor=admin)
    with pytest.raises(Conflict) as info:
        gallery_version_publish(version=stale, actor=admin)
    assert info.value.code == "cannot_publish"


@pytest.mark.parametrize("state", ["published", "deprecated"])
def test_published_and_deprecated_versions_are_immutable(item, admin, state):
    version = make_version(item, state=state)
    with pytest.raises(Conflict) as info:
        gallery_version_update(version=version, actor=admin, notes="sneaky")
    assert info.value.code == "version_immutable"
    with pytest.raises(Conflict):
        gallery_version_delete(version=version, actor=admin)
    version.refresh_from_db()
    assert version.notes == ""


def test_a_draft_can_be_edited_and_deleted(item, admin):
    version = _draft(item, admin)
    gallery_version_update(version=version, actor=admin, notes="Better.", default_language="de")
    assert (version.notes, version.default_language) == ("Better.", "de")
    with pytest.raises(ValidationError):
        gallery_version_update(version=version, actor=admin, state="published")
    gallery_version_delete(version=version, actor=admin)
    assert not GalleryItemVersion.objects.exists()
    assert AuditEvent.objects.filter(action="gallery.version_delete").exists()


def test_the_compiled_definition_is_cached_for_published_versions(item, admin, sizes):
    version = _draft(item, admin)
    gallery_version_publish(version=version, actor=admin)
    a = GalleryItemVersion.objects.get(pk=version.pk).parameters
    b = GalleryItemVersion.objects.get(pk=version.pk).parameters
    assert a is b
    assert GalleryItemVersion.objects.get(pk=version.pk).user_data is not None


def test_a_draft_is_compiled_from_what_it_holds_now(item, admin):
    version = _draft(item, admin)
    assert "tls" in version.parameters.names
    gallery_version_update(
        version=version, actor=admin, parameter_definition=definition(param("only")), resource_extension={}
    )
    assert version.parameters.names == {"only"}
    with pytest.raises(DefinitionError):
        GalleryItemVersion(parameter_definition={"sections": "nope"}).parameters


# --- sizes and plans -------------------------------------------------------------------------


def test_sizes_are_created_updated_and_offered_by_plans(admin, plan):
    size = vm_size_create(actor=admin, name="tiny", vcpus=1, ram_gib=1, disk_gib=10)
    vm_size_update(size=size, actor=admin, ram_gib=2)
    vm_size_attach_plan(size=size, plan=plan, actor=admin)
    vm_size_attach_plan(size=size, plan=plan, actor=admin)  # no-op, no second event
    assert list(plan.sizes.all()) == [size]
    vm_size_detach_plan(size=size, plan=plan, actor=admin)
    assert not plan.sizes.exists()
    actions = list(AuditEvent.objects.order_by("created", "id").values_list("action", flat=True))
    assert actions == [
        "gallery.size_create",
        "gallery.size_update",
        "gallery.size_attach",
        "gallery.size_detach",
    ]


def test_a_size_that_versions_name_cannot_be_renamed(item, admin, sizes):
    make_version(item)
    with pytest.raises(Conflict):
        vm_size_update(size=sizes["small"], actor=admin, name="smol")
    vm_size_update(size=sizes["xlarge"], actor=admin, name="huge")
    assert VMSize.objects.filter(name="huge").exists()


def test_sizes_need_positive_resources(admin):
    with pytest.raises(ValidationError) as info:
        vm_size_create(actor=admin, name="zero", vcpus=0, ram_gib=1, disk_gib=1)
    assert "vcpus" in info.value.message_dict


def test_items_are_attached_to_and_detached_from_plans(item, admin, plan):
    gallery_item_attach_plan(item=item, plan=plan, actor=admin)
    assert list(plan.gallery_items.all()) == [item]
    gallery_item_detach_plan(item=item, plan=plan, actor=admin)
    assert not GalleryItem.objects.filter(plans=plan).exists()
    event = AuditEvent.objects.get(action="gallery.item_detach")
    assert event.tenant is None and event.data == {"plan": plan.name}
