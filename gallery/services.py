"""Writes for the gallery: items, versions and their life cycle, VM sizes, plan offerings,
package import and export. All of them are service-admin actions: audited with
``tenant=None``, atomic, validated before anything is stored.

Version life cycle (conditional UPDATEs, so two admins clicking at once cannot both win)::

    draft ──publish──► published ──deprecate──► deprecated
      ▲                    │  ▲                     │
      └─────unpublish──────┘  └──────publish────────┘

Only drafts can be edited or deleted; publishing runs every definition check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from gallery.models import GalleryItem, GalleryItemVersion, VMSize, parse_version
from gallery.packages import (
    CheckedPackage,
    PackageInvalid,
    Problem,
    check_version,
    export_package,
    load_package,
)
from gallery.schema import json_path
from portal.audit import audit_record
from portal.errors import Conflict
from subscriptions.models import Plan

ITEM_FIELDS = ("name", "slug", "publisher", "description", "category", "os_family", "icon")
SIZE_FIELDS = ("name", "vcpus", "ram_gib", "disk_gib", "state")
VERSION_DOCUMENTS = {
    # model field → key in packages and in check_version's paths
    "resource_definition": "resource",
    "parameter_definition": "parameters",
    "resource_extension": "extension",
}
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
# The sizes the sample packages run on; gallery_load_samples creates the missing ones.
STANDARD_SIZES = (
    {"name": "small", "vcpus": 1, "ram_gib": 2, "disk_gib": 20},
    {"name": "medium", "vcpus": 2, "ram_gib": 4, "disk_gib": 40},
    {"name": "large", "vcpus": 4, "ram_gib": 8, "disk_gib": 80},
    {"name": "xlarge", "vcpus": 8, "ram_gib": 16, "disk_gib": 160},
)


def _assign(obj, data: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, list]:
    """Set ``data`` on ``obj``; return ``{field: [old, new]}`` for the audit log."""
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValidationError({key: "Unknown field." for key in sorted(unknown)})
    changed = {}
    for key, value in data.items():
        old = getattr(obj, key)
        if old != value:
            changed[key] = [old, value]
        setattr(obj, key, value)
    return changed


# --- items ----------------------------------------------------------------------------------------


@transaction.atomic
def gallery_item_create(*, actor, plans: list[Plan] | None = None, **data) -> GalleryItem:
    """Create an item (no versions yet). ``data`` holds item fields (name, slug, …)."""
    item = GalleryItem(created_by=actor if getattr(actor, "pk", None) else None)
    _assign(item, data, ITEM_FIELDS)
    item.full_clean()
    item.save()
    if plans is not None:
        item.plans.set(plans)
    audit_record(
        actor=actor, tenant=None, action="gallery.item_create", target=item, data={"slug": item.slug}
    )
    return item


@transaction.atomic
def gallery_item_update(*, item: GalleryItem, actor, **data) -> GalleryItem:
    changed = _assign(item, data, ITEM_FIELDS)
    item.full_clean()
    item.save()
    if changed:
        audit_record(
            actor=actor, tenant=None, action="gallery.item_update", target=item, data={"changed": changed}
        )
    return item


# --- versions -------------------------------------------------------------------------------------


def _document_errors(problems: list[tuple[tuple, str]]) -> ValidationError:
    """check_version's path problems as field errors of the version model."""
    by_key = {v: k for k, v in VERSION_DOCUMENTS.items()}
    errors: dict[str, list[str]] = {}
    for parts, message in problems:
        field_name = by_key.get(parts[0], "__all__") if parts else "__all__"
        errors.setdefault(field_name, []).append(f"{json_path(parts[1:])}: {message}")
    return ValidationError(errors)


def _check_structure(version: GalleryItemVersion) -> None:
    """Drafts must at least have the right shape (the JSON Schema); the full definition
    checks run when the version is published."""
    from gallery.schema import schema_problems

    problems = []
    for field_name, key in VERSION_DOCUMENTS.items():
        schema_name = {
            "resource": "resourceDefinition",
            "parameters": "parameterDefinition",
            "extension": "resourceExtension",
        }[key]
        problems += schema_problems(getattr(version, field_name), definition=schema_name, prefix=(key,))
    if problems:
        raise _document_errors(problems)


def _check_complete(version: GalleryItemVersion) -> None:
    """Every check a published version must pass, with the sizes that exist now."""
    problems, _ = check_version(
        resource=version.resource_definition,
        parameters=version.parameter_definition,
        extension=version.resource_extension,
        default_language=version.default_language,
        known_sizes=set(VMSize.objects.values_list("name", flat=True)),
    )
    if problems:
        raise _document_errors(problems)


@transaction.atomic
def gallery_version_create(
    *,
    item: GalleryItem,
    actor,
    version: str,
    resource_definition: dict,
    parameter_definition: dict,
    resource_extension: dict | None = None,
    default_language: str = "en",
    notes: str = "",
) -> GalleryItemVersion:
    """Add a draft version ``"major.minor.build"`` to ``item``."""
    major, minor, build = parse_version(version)
    obj = GalleryItemVersion(
        item=item,
        major=major,
        minor=minor,
        build=build,
        resource_definition=resource_definition,
        parameter_definition=parameter_definition,
        resource_extension=resource_extension or {},
        default_language=default_language,
        notes=notes,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    obj.full_clean()
    _check_structure(obj)
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        # Two admins creating the same number at once: full_clean saw neither.
        raise ValidationError({"version": f"{item.name} already has a version {obj.version}."}) from None
    audit_record(
        actor=actor,
        tenant=None,
        action="gallery.version_create",
        target=obj,
        data={"item": item.slug, "version": obj.version},
    )
    return obj


def _lock(version: GalleryItemVersion) -> GalleryItemVersion:
    return GalleryItemVersion.objects.select_for_update().select_related("item").get(pk=version.pk)


@transaction.atomic
def gallery_version_update(*, version: GalleryItemVersion, actor, **data) -> GalleryItemVersion:
    """Edit a draft's documents, default language or notes. Published and deprecated
    versions are immutable: a deployment that names a version must always mean the same thing."""
    allowed = (*VERSION_DOCUMENTS, "default_language", "notes")
    locked = _lock(version)
    if locked.state != GalleryItemVersion.State.DRAFT:
        raise Conflict(
            f"Version {locked.version} is {locked.state} and cannot change; create a new version instead.",
            code="version_immutable",
        )
    changed = _assign(locked, data, allowed)
    locked.full_clean()
    _check_structure(locked)
    locked.save()
    audit_record(
        actor=actor,
        tenant=None,
        action="gallery.version_update",
        target=locked,
        data={"item": locked.item.slug, "changed": sorted(changed)},
    )
    version.refresh_from_db()
    return locked


@transaction.atomic
def gallery_version_delete(*, version: GalleryItemVersion, actor) -> None:
    """Delete a draft. Published or deprecated versions are deprecated, never deleted."""
    locked = _lock(version)
    if locked.state != GalleryItemVersion.State.DRAFT:
        raise Conflict(
            f"Version {locked.version} is {locked.state}; only drafts can be deleted.",
            code="version_immutable",
        )
    audit_record(
        actor=actor,
        tenant=None,
        action="gallery.version_delete",
        target=locked,
        data={"item": locked.item.slug, "version": locked.version},
    )
    locked.delete()


_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # action: (states it may start from, state it leads to)
    "publish": (
        (GalleryItemVersion.State.DRAFT, GalleryItemVersion.State.DEPRECATED),
        GalleryItemVersion.State.PUBLISHED,
    ),
    "unpublish": ((GalleryItemVersion.State.PUBLISHED,), GalleryItemVersion.State.DRAFT),
    "deprecate": ((GalleryItemVersion.State.PUBLISHED,), GalleryItemVersion.State.DEPRECATED),
}


def _transition(*, version: GalleryItemVersion, action: str, actor) -> GalleryItemVersion:
    sources, target = _TRANSITIONS[action]
    now = timezone.now()
    changes: dict[str, Any] = {"state": target, "updated": now}
    if action == "publish":
        # Lock, then check what is stored: the draft cannot change between check and publish.
        locked = _lock(version)
        if locked.state in sources:
            _check_complete(locked)
        if locked.state == GalleryItemVersion.State.DRAFT:
            changes["published_at"] = now
    updated = GalleryItemVersion.objects.filter(pk=version.pk, state__in=sources).update(**changes)
    if updated != 1:
        current = GalleryItemVersion.objects.filter(pk=version.pk).values_list("state", flat=True).first()
        raise Conflict(f"Cannot {action} a version that is {current or 'gone'}.", code=f"cannot_{action}")
    version.refresh_from_db()
    audit_record(
        actor=actor,
        tenant=None,
        action=f"gallery.version_{action}",
        target=version,
        data={"item": version.item.slug, "version": version.version},
    )
    return version


@transaction.atomic
def gallery_version_publish(*, version: GalleryItemVersion, actor) -> GalleryItemVersion:
    """Offer a version to tenants (from draft, or back from deprecated) after every check."""
    return _transition(version=version, action="publish", actor=actor)


@transaction.atomic
def gallery_version_unpublish(*, version: GalleryItemVersion, actor) -> GalleryItemVersion:
    """Take a published version back to draft: tenants stop seeing it and it can be edited."""
    return _transition(version=version, action="unpublish", actor=actor)


@transaction.atomic
def gallery_version_deprecate(*, version: GalleryItemVersion, actor) -> GalleryItemVersion:
    """Stop offering a version for new deployments; it stays immutable for existing ones."""
    return _transition(version=version, action="deprecate", actor=actor)


# --- sizes and plans ------------------------------------------------------------------------------


@transaction.atomic
def vm_size_create(*, actor, plans: list[Plan] | None = None, **data) -> VMSize:
    size = VMSize()
    _assign(size, data, SIZE_FIELDS)
    size.full_clean()
    size.save()
    if plans is not None:
        size.plans.set(plans)
    audit_record(
        actor=actor, tenant=None, action="gallery.size_create", target=size, data={"summary": size.summary}
    )
    return size


@transaction.atomic
def vm_size_update(*, size: VMSize, actor, **data) -> VMSize:
    """Change a size preset. Renaming one that versions name would break them, so the name
    is fixed once any version lists it."""
    if "name" in data and data["name"] != size.name and _size_in_use(size.name):
        raise Conflict(f"Versions use the size {size.name}; it cannot be renamed.", code="size_in_use")
    changed = _assign(size, data, SIZE_FIELDS)
    size.full_clean()
    size.save()
    if changed:
        audit_record(
            actor=actor, tenant=None, action="gallery.size_update", target=size, data={"changed": changed}
        )
    return size


def _size_in_use(name: str) -> bool:
    # JSON containment is not portable to SQLite; versions are few enough to scan.
    return any(
        name in (sizes or ())
        for sizes in GalleryItemVersion.objects.values_list("resource_definition__sizes", flat=True)
    )


def _offer(*, obj, plan: Plan, actor, attach: bool, what: str) -> None:
    relation = obj.plans
    present = relation.filter(pk=plan.pk).exists()
    if attach and not present:
        relation.add(plan)
    elif not attach and present:
        relation.remove(plan)
    else:
        return  # already so: nothing to record
    audit_record(
        actor=actor,
        tenant=None,
        action=f"gallery.{what}_{'attach' if attach else 'detach'}",
        target=obj,
        data={"plan": plan.name},
    )


@transaction.atomic
def gallery_item_attach_plan(*, item: GalleryItem, plan: Plan, actor) -> None:
    """Offer ``item`` to subscribers of ``plan``."""
    _offer(obj=item, plan=plan, actor=actor, attach=True, what="item")


@transaction.atomic
def gallery_item_detach_plan(*, item: GalleryItem, plan: Plan, actor) -> None:
    """Stop offering ``item`` to ``plan``'s subscribers (existing deployments are untouched)."""
    _offer(obj=item, plan=plan, actor=actor, attach=False, what="item")


@transaction.atomic
def vm_size_attach_plan(*, size: VMSize, plan: Plan, actor) -> None:
    _offer(obj=size, plan=plan, actor=actor, attach=True, what="size")


@transaction.atomic
def vm_size_detach_plan(*, size: VMSize, plan: Plan, actor) -> None:
    _offer(obj=size, plan=plan, actor=actor, attach=False, what="size")


# --- packages -------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    item: GalleryItem
    created: bool
    item_changes: dict = field(default_factory=dict)
    versions_created: list[str] = field(default_factory=list)
    versions_unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.item_changes) or bool(self.versions_created)


def _stored_content(version: GalleryItemVersion) -> dict:
    return {
        "default_language": version.default_language,
        "resource": version.resource_definition,
        "parameters": version.parameter_definition,
        "extension": version.resource_extension,
    }


@transaction.atomic
def gallery_package_import(*, data: bytes | str | Mapping, actor) -> ImportResult:
    """Import a package: a new item, or new versions (and metadata) for the item with the
    package's slug. Versions already stored with the same content are left alone, so
    importing twice changes nothing; the same number with other content is an error
    (published versions are immutable: give changed content a new number).

    Raises ``PackageInvalid`` with every problem and its JSON path, having stored nothing."""
    package: CheckedPackage = load_package(
        data, known_sizes=set(VMSize.objects.values_list("name", flat=True))
    )
    slug = package.item["slug"]
    # Lock the item row (if any), so two imports of one package serialise.
    item = GalleryItem.objects.select_for_update().filter(slug=slug).first()
    existing = {v.number: v for v in item.versions.all()} if item is not None else {}
    problems = []
    for checked in package.versions:
        stored = existing.get(checked.number)
        if stored is not None and _stored_content(stored) != checked.content():
            problems.append(
                Problem(
                    json_path(("versions", checked.index, "version")),
                    f"version {checked.version} of {slug} already exists with different content; "
                    "give the changed version a new number",
                )
            )
    if problems:
        raise PackageInvalid(problems)

    result = ImportResult(item=item, created=item is None)
    if item is None:
        item = GalleryItem(created_by=actor if getattr(actor, "pk", None) else None)
    item_changes = _assign(item, package.item, ITEM_FIELDS)
    try:
        item.full_clean()
    except ValidationError as exc:
        raise PackageInvalid(
            [
                Problem(json_path(("item", key)), m)
                for key, messages in exc.message_dict.items()
                for m in messages
            ]
        ) from None
    try:
        with transaction.atomic():
            item.save()
    except IntegrityError:
        # Another import created the same slug between our check and this insert.
        raise Conflict(
            f"Another import of {slug} ran at the same time; import again.", code="import_race"
        ) from None
    result.item = item
    result.item_changes = {} if result.created else item_changes
    now = timezone.now()
    for checked in package.versions:
        if checked.number in existing:
            result.versions_unchanged.append(checked.version)
            continue
        GalleryItemVersion.objects.create(
            item=item,
            major=checked.number[0],
            minor=checked.number[1],
            build=checked.number[2],
            state=checked.state,
            resource_definition=checked.resource,
            parameter_definition=checked.parameters,
            resource_extension=checked.extension,
            default_language=checked.default_language,
            notes=checked.notes,
            published_at=now if checked.state != GalleryItemVersion.State.DRAFT else None,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        result.versions_created.append(checked.version)
    if result.changed:
        audit_record(
            actor=actor,
            tenant=None,
            action="gallery.import",
            target=item,
            data={
                "slug": slug,
                "created": result.created,
                "item_changes": sorted(result.item_changes),
                "versions_created": result.versions_created,
            },
        )
    return result


def gallery_package_export(*, item: GalleryItem, actor) -> dict:
    """The item and all its versions as a package (``gallery.packages.dumps_package`` for
    text). Audited: packages may carry an organisation's internal images and scripts."""
    package = export_package(item, item.versions.all())
    audit_record(
        actor=actor,
        tenant=None,
        action="gallery.export",
        target=item,
        data={"versions": len(package["versions"])},
    )
    return package


@transaction.atomic
def gallery_load_samples(*, actor) -> list[ImportResult]:
    """Import the sample packages shipped in ``gallery/samples/``, creating the standard
    sizes they run on when missing. Idempotent: a second run changes nothing. Attaching
    items and sizes to plans is left to the caller (the demo seed)."""
    for spec in STANDARD_SIZES:
        if not VMSize.objects.filter(name=spec["name"]).exists():
            vm_size_create(actor=actor, **spec)
    return [
        gallery_package_import(data=path.read_bytes(), actor=actor)
        for path in sorted(SAMPLES_DIR.glob("*.json"))
    ]
