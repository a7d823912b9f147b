"""Gallery curation: items and their versions, package import and export, VM sizes, which
plans offer what, and a preview of the deploy form exactly as tenants get it.

Every write goes through ``gallery.services``. A version in the wrong state for an action
(another admin got there first) is a ``Conflict``, shown as an error message; a version that
fails the publishing checks shows every problem with its JSON path.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods, require_POST

from adminportal import selectors as admin_selectors
from adminportal.gallery_forms import (
    GalleryFilterForm,
    GalleryItemForm,
    ImportForm,
    PlanAttachForm,
    PreviewForm,
    SizeFilterForm,
    VersionForm,
    VMSizeForm,
    item_initial,
    next_version,
    size_initial,
    version_initial,
    version_skeleton,
)
from adminportal.views.common import get_or_404, paginate, sorted_by
from gallery import selectors, services
from gallery.models import GalleryItem, GalleryItemVersion, State
from gallery.packages import PackageInvalid, dumps_package
from gallery.parameters import DefinitionError
from portal.errors import Conflict
from portal.tenancy import service_admin_view
from tenants.forms import add_service_errors

ITEM_SORTS = {
    "name": "name",
    "category": "category",
    "os": "os_family",
    "versions": "version_count",
    "published": "published_count",
    "updated": "updated",
}
DOCUMENT_LABELS = {
    "resource_definition": "Resource definition",
    "parameter_definition": "Parameter definition",
    "resource_extension": "Extension",
}


def _save(form, write: Callable[[dict], Model]) -> Model | None:
    """Validate ``form`` and call ``write(data)``; a service ValidationError goes beside the
    fields it names and None comes back, so the form renders again with what was typed."""
    if not form.is_valid():
        return None
    try:
        return write(form.service_data())
    except ValidationError as error:
        add_service_errors(form, error)
        return None


def _item_url(item_pk) -> str:
    return reverse("adminportal:gallery_item_detail", args=[item_pk])


# --- items -----------------------------------------------------------------------------------------


@service_admin_view
def gallery_items(request: HttpRequest) -> HttpResponse:
    form = GalleryFilterForm(request.GET or None)
    filters = form.values()
    items, sort = sorted_by(
        request,
        selectors.gallery_item_list(
            search=filters["q"], category=filters["category"], os_family=filters["os"]
        ),
        ITEM_SORTS,
        "name",
    )
    context = {
        "form": form,
        "page_obj": paginate(request, items),
        "sort": sort,
        "filtered": any(filters.values()),
    }
    return render(request, "adminportal/gallery/list.html", context)


def _detail_context(item: GalleryItem, **extra) -> dict:
    plans = list(item.plans.all())
    versions = list(item.versions.all())
    return {
        "item": item,
        "versions": versions,
        "newest_published": next(
            (v for v in versions if v.state == GalleryItemVersion.State.PUBLISHED), None
        ),
        "plans": plans,
        "attach_form": PlanAttachForm(exclude=plans, auto_id="id_attach_%s"),
        "events": selectors.gallery_item_activity(item=item)[:10],
        **extra,
    }


@service_admin_view
def gallery_item_detail(request: HttpRequest, pk) -> HttpResponse:
    item = get_or_404(selectors.gallery_item_get, pk=pk)
    return render(request, "adminportal/gallery/detail.html", _detail_context(item))


@service_admin_view
def gallery_item_create(request: HttpRequest) -> HttpResponse:
    form = GalleryItemForm(request.POST or None)
    if request.method == "POST":
        item = _save(form, lambda data: services.gallery_item_create(actor=request.user, **data))
        if item is not None:
            messages.success(request, f"Created {item.name}. Add its first version next.")
            return redirect("adminportal:gallery_item_detail", pk=item.pk)
    return render(request, "adminportal/gallery/item_form.html", {"form": form, "item": None})


@service_admin_view
def gallery_item_edit(request: HttpRequest, pk) -> HttpResponse:
    item = get_or_404(selectors.gallery_item_get, pk=pk)
    form = GalleryItemForm(request.POST or None, initial=item_initial(item))
    if request.method == "POST":
        saved = _save(form, lambda data: services.gallery_item_update(item=item, actor=request.user, **data))
        if saved is not None:
            messages.success(request, f"Saved {saved.name}.")
            return redirect("adminportal:gallery_item_detail", pk=saved.pk)
        # A failed save may have changed the instance in memory; show what is stored.
        item.refresh_from_db()
    return render(request, "adminportal/gallery/item_form.html", {"form": form, "item": item})


# --- packages --------------------------------------------------------------------------------------


def _import_summary(result: services.ImportResult) -> str:
    name = result.item.name
    if not result.changed:
        return f"{name} is already up to date: the package changed nothing."
    parts = []
    if result.created:
        parts.append(f"created {name}")
    elif result.item_changes:
        parts.append(
            f"updated {name}'s {', '.join(k.replace('_', ' ') for k in sorted(result.item_changes))}"
        )
    if result.versions_created:
        count = len(result.versions_created)
        parts.append(f"added version{'s' if count > 1 else ''} {', '.join(result.versions_created)}")
    if result.versions_unchanged:
        parts.append(f"kept {', '.join(result.versions_unchanged)} (already here, unchanged)")
    text = "; ".join(parts)
    return f"Imported the package: {text}."


@service_admin_view
def gallery_import(request: HttpRequest) -> HttpResponse:
    """Import a package (file or pasted JSON). Every problem is listed with its JSON path and
    nothing is stored unless the whole package is valid."""
    form = ImportForm(request.POST if request.method == "POST" else None, request.FILES or None)
    problems = []
    if request.method == "POST" and form.is_valid():
        try:
            result = services.gallery_package_import(data=form.package_data(), actor=request.user)
        except PackageInvalid as error:
            problems = error.problems
        except Conflict as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _import_summary(result))
            return redirect("adminportal:gallery_item_detail", pk=result.item.pk)
    return render(request, "adminportal/gallery/import.html", {"form": form, "problems": problems})


@service_admin_view
@require_POST
def gallery_item_export(request: HttpRequest, pk) -> HttpResponse:
    """The item and all its versions as a package file. A POST: exports are audited."""
    item = get_or_404(selectors.gallery_item_get, pk=pk)
    package = services.gallery_package_export(item=item, actor=request.user)
    response = HttpResponse(dumps_package(package), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{item.slug}.package.json"
    )
    return response


# --- plans offering an item ------------------------------------------------------------------------


@service_admin_view
@require_POST
def gallery_item_plan_attach(request: HttpRequest, pk) -> HttpResponse:
    item = get_or_404(selectors.gallery_item_get, pk=pk)
    form = PlanAttachForm(request.POST, exclude=list(item.plans.all()))
    if form.is_valid():
        plan = form.cleaned_data["plan"]
        services.gallery_item_attach_plan(item=item, plan=plan, actor=request.user)
        messages.success(request, f"{plan.name} now offers {item.name}.")
    else:
        messages.error(request, "Choose a plan that does not offer this item yet.")
    return redirect(f"{_item_url(item.pk)}#plans")


@service_admin_view
@require_POST
def gallery_item_plan_detach(request: HttpRequest, pk, plan_pk) -> HttpResponse:
    item = get_or_404(selectors.gallery_item_get, pk=pk)
    plan = get_or_404(admin_selectors.plan_get, plan_pk)
    services.gallery_item_detach_plan(item=item, plan=plan, actor=request.user)
    messages.success(
        request, f"{plan.name} no longer offers {item.name}. Existing deployments are untouched."
    )
    return redirect(f"{_item_url(item.pk)}#plans")


# --- versions --------------------------------------------------------------------------------------


def _version(pk, version_pk) -> GalleryItemVersion:
    return get_or_404(selectors.gallery_version_get, item_pk=pk, pk=version_pk)


def _problems(error: ValidationError) -> list[tuple[str, str, str]]:
    """A service's document errors ("$.path: message" per field) as (document, path, message)."""
    out = []
    for key, texts in error.message_dict.items():
        for text in texts:
            path, sep, message = text.partition(": ")
            if not (sep and path.startswith("$")):
                path, message = "", text
            out.append((DOCUMENT_LABELS.get(key, ""), path, message))
    return out


@service_admin_view
def gallery_version_create(request: HttpRequest, pk) -> HttpResponse:
    """A new draft, prefilled from the newest version (or the one in ``?from=``) with the next
    build number: most versions are a small change to the last one."""
    item = get_or_404(selectors.gallery_item_get, pk=pk)
    versions = list(item.versions.all())
    wanted = request.GET.get("from", "")
    source = next((v for v in versions if str(v.pk) == wanted), versions[0] if versions else None)
    if source is not None:
        initial = {**version_initial(source), "version": next_version(source, versions)}
    else:
        initial = version_skeleton([size.name for size in selectors.vm_size_list(state=State.ACTIVE)])
    form = VersionForm(request.POST or None, item=item, initial=initial)
    if request.method == "POST":
        version = _save(
            form, lambda data: services.gallery_version_create(item=item, actor=request.user, **data)
        )
        if version is not None:
            messages.success(request, f"Created draft {version.version}. Preview it, then publish it.")
            return redirect(f"{_item_url(item.pk)}#versions")
    context = {
        "form": form,
        "item": item,
        "version": None,
        "source": source,
    }
    return render(request, "adminportal/gallery/version_form.html", context)


@service_admin_view
def gallery_version_edit(request: HttpRequest, pk, version_pk) -> HttpResponse:
    version = _version(pk, version_pk)
    item = version.item
    if not version.is_editable:
        messages.error(
            request, f"Version {version.version} is {version.state} and cannot change; create a new version."
        )
        return redirect(f"{_item_url(item.pk)}#versions")
    form = VersionForm(request.POST or None, item=item, editing=version, initial=version_initial(version))
    if request.method == "POST":
        try:
            saved = _save(
                form,
                lambda data: services.gallery_version_update(version=version, actor=request.user, **data),
            )
        except Conflict as error:
            # Published by someone else while this form was open.
            messages.error(request, error.message)
            return redirect(f"{_item_url(item.pk)}#versions")
        if saved is not None:
            messages.success(request, f"Saved draft {saved.version}.")
            return redirect(f"{_item_url(item.pk)}#versions")
    return render(
        request, "adminportal/gallery/version_form.html", {"form": form, "item": item, "version": version}
    )


@service_admin_view
@require_POST
def gallery_version_delete(request: HttpRequest, pk, version_pk) -> HttpResponse:
    version = _version(pk, version_pk)
    try:
        services.gallery_version_delete(version=version, actor=request.user)
    except Conflict as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Deleted draft {version.version} of {version.item.name}.")
    return redirect(f"{_item_url(pk)}#versions")


_DONE = {
    "publish": "is published: tenants on plans offering {item} can deploy it",
    "unpublish": "is a draft again: tenants no longer see it, and it can be edited",
    "deprecate": "is deprecated: existing deployments keep it, new ones cannot use it",
}


def _transition(request: HttpRequest, pk, version_pk, action: str) -> HttpResponse:
    version = _version(pk, version_pk)
    write = getattr(services, f"gallery_version_{action}")
    try:
        write(version=version, actor=request.user)
    except Conflict as error:
        messages.error(request, error.message)
    except ValidationError as error:
        # Publishing runs every definition check; list each problem with its path on the page
        # (a flash message could not hold them all).
        item = get_or_404(selectors.gallery_item_get, pk=pk)
        context = _detail_context(item, publish_failed=version, publish_problems=_problems(error))
        return render(request, "adminportal/gallery/detail.html", context)
    else:
        done = _DONE[action].format(item=version.item.name)
        messages.success(request, f"{version.item.name} {version.version} {done}.")
    return redirect(f"{_item_url(pk)}#versions")


@service_admin_view
@require_POST
def gallery_version_publish(request: HttpRequest, pk, version_pk) -> HttpResponse:
    return _transition(request, pk, version_pk, "publish")


@service_admin_view
@require_POST
def gallery_version_unpublish(request: HttpRequest, pk, version_pk) -> HttpResponse:
    return _transition(request, pk, version_pk, "unpublish")


@service_admin_view
@require_POST
def gallery_version_deprecate(request: HttpRequest, pk, version_pk) -> HttpResponse:
    return _transition(request, pk, version_pk, "deprecate")


# --- preview ---------------------------------------------------------------------------------------


def _preview(request: HttpRequest, pk, version_pk) -> tuple[GalleryItemVersion, PreviewForm | None, list]:
    """The version and its preview form, or None and the definition's problems when a draft's
    parameter definition does not compile (drafts need only the right shape)."""
    version = _version(pk, version_pk)
    plans = list(version.item.plans.order_by("name"))
    data = request.POST if request.method == "POST" else None
    try:
        form = PreviewForm(version=version, tenant=None, data=data, language=get_language(), plans=plans)
    except DefinitionError as error:
        return version, None, error.messages()
    return version, form, []


def _preview_fields_url(version: GalleryItemVersion) -> str:
    return reverse("adminportal:gallery_version_preview_fields", args=[version.item_id, version.pk])


@service_admin_view
@require_http_methods(["GET", "POST"])
def gallery_version_preview(request: HttpRequest, pk, version_pk) -> HttpResponse:
    """The deploy wizard as a tenant sees it, from the wizard's own form and templates. "Check"
    validates what was typed, as the wizard's review does; there is no deploying from here."""
    version, form, broken = _preview(request, pk, version_pk)
    review = form is not None and request.method == "POST"
    if review:
        form.valid = form.validate()
    context = {
        "version": version,
        "item": version.item,
        "form": form,
        "broken": broken,
        "review": review,
        "fields_url": _preview_fields_url(version),
    }
    return render(request, "adminportal/gallery/preview.html", context)


@service_admin_view
@require_POST
def gallery_version_preview_fields(request: HttpRequest, pk, version_pk) -> HttpResponse:
    """htmx partial: the preview's fields re-evaluated for the values posted so far, with the
    step list out of band (the wizard's own partial endpoint, for an admin)."""
    version, form, broken = _preview(request, pk, version_pk)
    if form is None:
        return render(request, "adminportal/gallery/_partials/preview_broken.html", {"broken": broken})
    reviewed = request.POST.get("reviewed") == "1"
    if reviewed:
        # As in the wizard: after a check, the fields keep showing what is still wrong.
        form.validate()
    context = {"form": form, "fields_url": _preview_fields_url(version), "review": reviewed}
    return render(request, "gallery/_partials/fields_response.html", context)


# --- VM sizes --------------------------------------------------------------------------------------


@service_admin_view
def vm_sizes(request: HttpRequest) -> HttpResponse:
    form = SizeFilterForm(request.GET or None)
    filters = form.values()
    sizes = selectors.vm_size_list(search=filters["q"], state=filters["state"])
    context = {"form": form, "page_obj": paginate(request, sizes), "filtered": any(filters.values())}
    return render(request, "adminportal/gallery/sizes.html", context)


@service_admin_view
def vm_size_create(request: HttpRequest) -> HttpResponse:
    form = VMSizeForm(request.POST or None, initial={"state": State.ACTIVE})
    if request.method == "POST":
        size = _save(form, lambda data: services.vm_size_create(actor=request.user, **data))
        if size is not None:
            messages.success(request, f"Created the size {size.name} ({size.summary}).")
            return redirect("adminportal:vm_size_edit", pk=size.pk)
    return render(request, "adminportal/gallery/size_form.html", {"form": form, "size": None})


@service_admin_view
def vm_size_edit(request: HttpRequest, pk) -> HttpResponse:
    """Edit a size, and choose the plans that offer it (separate forms, side by side)."""
    size = get_or_404(selectors.vm_size_get, pk=pk)
    form = VMSizeForm(request.POST or None, initial=size_initial(size))
    if request.method == "POST":
        try:
            saved = _save(form, lambda data: services.vm_size_update(size=size, actor=request.user, **data))
        except Conflict as error:
            form.add_error("name", error.message)
            saved = None
        if saved is not None:
            messages.success(request, f"Saved the size {saved.name}.")
            return redirect("adminportal:vm_sizes")
        size.refresh_from_db()
    plans = list(size.plans.all())
    context = {
        "form": form,
        "size": size,
        "plans": plans,
        "attach_form": PlanAttachForm(exclude=plans, auto_id="id_attach_%s"),
    }
    return render(request, "adminportal/gallery/size_form.html", context)


@service_admin_view
@require_POST
def vm_size_plan_attach(request: HttpRequest, pk) -> HttpResponse:
    size = get_or_404(selectors.vm_size_get, pk=pk)
    form = PlanAttachForm(request.POST, exclude=list(size.plans.all()))
    if form.is_valid():
        plan = form.cleaned_data["plan"]
        services.vm_size_attach_plan(size=size, plan=plan, actor=request.user)
        messages.success(request, f"{plan.name} now offers the size {size.name}.")
    else:
        messages.error(request, "Choose a plan that does not offer this size yet.")
    return redirect("adminportal:vm_size_edit", pk=size.pk)


@service_admin_view
@require_POST
def vm_size_plan_detach(request: HttpRequest, pk, plan_pk) -> HttpResponse:
    size = get_or_404(selectors.vm_size_get, pk=pk)
    plan = get_or_404(admin_selectors.plan_get, plan_pk)
    services.vm_size_detach_plan(size=size, plan=plan, actor=request.user)
    messages.success(request, f"{plan.name} no longer offers the size {size.name}.")
    return redirect("adminportal:vm_size_edit", pk=size.pk)
