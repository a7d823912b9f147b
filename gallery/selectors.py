"""Reads for the gallery, each in a constant number of queries.

What a tenant sees: the *published* versions of items offered by the plans of the tenant's
*active* subscriptions. Anything else (a draft, another plan's private item, an item of a
suspended subscription's plan) is simply not found: ``DoesNotExist``, a 404.
"""

from __future__ import annotations

from django.db.models import (
    CharField,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Concat

from gallery.models import GalleryItem, GalleryItemVersion, State, VMSize
from portal.models import AuditEvent
from subscriptions.models import Plan, Subscription

PUBLISHED = GalleryItemVersion.State.PUBLISHED


def _offered(tenant, item_ref: str = "pk") -> Exists:
    """True for an item that a plan of one of the tenant's active subscriptions offers.
    (One filter() call, so "of the tenant" and "active" hold for the same subscription.)"""
    through = GalleryItem.plans.through
    return Exists(
        through.objects.filter(
            galleryitem_id=OuterRef(item_ref),
            plan__subscriptions__tenant=tenant,
            plan__subscriptions__state=Subscription.State.ACTIVE,
        )
    )


def _published_versions() -> QuerySet[GalleryItemVersion]:
    # The parameter definition and the extension are the bulk of a version row (kilobytes of
    # JSON each) and no list or item page reads them: the wizard loads its one version itself.
    return (
        GalleryItemVersion.objects.filter(state=PUBLISHED)
        .defer("parameter_definition", "resource_extension")
        .order_by("-major", "-minor", "-build")
    )


def _items_for_tenant(*, tenant, search: str, category: str, os_family: str) -> QuerySet[GalleryItem]:
    qs = GalleryItem.objects.filter(_offered(tenant)).filter(
        Exists(GalleryItemVersion.objects.filter(item=OuterRef("pk"), state=PUBLISHED))
    )
    if search:
        qs = qs.filter(
            Q(name__icontains=search) | Q(description__icontains=search) | Q(publisher__icontains=search)
        )
    if category:
        qs = qs.filter(category=category)
    if os_family:
        qs = qs.filter(os_family=os_family)
    return qs.order_by("name", "slug")


def gallery_items_for_tenant(
    *, tenant, search: str = "", category: str = "", os_family: str = ""
) -> QuerySet[GalleryItem]:
    """Items the tenant may deploy, each with ``published_versions`` (newest first, without
    their parameter definition and extension) prefetched: two queries however many items and
    versions there are."""
    return _items_for_tenant(
        tenant=tenant, search=search, category=category, os_family=os_family
    ).prefetch_related(Prefetch("versions", queryset=_published_versions(), to_attr="published_versions"))


def gallery_cards_for_tenant(
    *, tenant, search: str = "", category: str = "", os_family: str = ""
) -> QuerySet[GalleryItem]:
    """The gallery page's cards: the items of ``gallery_items_for_tenant``, each annotated
    with ``latest_version`` ("1.2.3", its newest published version) in the same query, so a
    page of cards is one query and loads no version rows at all."""
    newest = GalleryItemVersion.objects.filter(item=OuterRef("pk"), state=PUBLISHED).order_by(
        "-major", "-minor", "-build"
    )
    number = Concat(
        Cast("major", CharField()),
        Value("."),
        Cast("minor", CharField()),
        Value("."),
        Cast("build", CharField()),
        output_field=CharField(),
    )
    return _items_for_tenant(tenant=tenant, search=search, category=category, os_family=os_family).annotate(
        latest_version=Subquery(newest.annotate(number=number).values("number")[:1])
    )


def gallery_item_for_tenant(*, tenant, pk) -> GalleryItem:
    """One item the tenant may deploy, with its published versions; ``DoesNotExist`` else."""
    return gallery_items_for_tenant(tenant=tenant).get(pk=pk)


def gallery_version_for_tenant(*, tenant, pk) -> GalleryItemVersion:
    """A published version of an item one of the tenant's active plans offers, or
    ``GalleryItemVersion.DoesNotExist`` (a 404) — including for a version that exists but
    that no plan of this tenant offers."""
    return (
        GalleryItemVersion.objects.filter(state=PUBLISHED)
        .filter(_offered(tenant, "item_id"))
        .select_related("item")
        .get(pk=pk)
    )


def subscriptions_offering(*, tenant, item: GalleryItem) -> QuerySet[Subscription]:
    """The tenant's active subscriptions whose plan offers ``item`` (the wizard's choice)."""
    return (
        Subscription.objects.for_tenant(tenant)
        .filter(state=Subscription.State.ACTIVE, plan__gallery_items=item)
        .select_related("plan")
        .order_by("name")
    )


def vm_sizes_for(*, version: GalleryItemVersion, plan: Plan) -> list[VMSize]:
    """The sizes a deployment of ``version`` under ``plan`` may use: listed by the version,
    offered by the plan, and active. One query."""
    return list(
        VMSize.objects.filter(name__in=version.size_names, plans=plan, state=State.ACTIVE).order_by(
            "vcpus", "ram_gib", "disk_gib", "name"
        )
    )


# --- service admins --------------------------------------------------------------------------------


def _count(model_qs, **filters) -> Coalesce:
    sub = model_qs.filter(**filters).order_by().values("item_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(sub, output_field=IntegerField()), 0)


def gallery_item_list(*, search: str = "", category: str = "", os_family: str = "") -> QuerySet[GalleryItem]:
    """Every item with version counts per state and its plans: two queries."""
    versions = GalleryItemVersion.objects.filter(item=OuterRef("pk"))
    qs = GalleryItem.objects.annotate(
        version_count=_count(versions),
        published_count=_count(versions, state=PUBLISHED),
        draft_count=_count(versions, state=GalleryItemVersion.State.DRAFT),
    ).prefetch_related(Prefetch("plans", queryset=Plan.objects.order_by("name")))
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(slug__icontains=search) | Q(publisher__icontains=search))
    if category:
        qs = qs.filter(category=category)
    if os_family:
        qs = qs.filter(os_family=os_family)
    return qs.order_by("name", "slug")


def gallery_item_get(*, pk) -> GalleryItem:
    """An item with all its versions (newest first) and plans, for the admin portal."""
    return GalleryItem.objects.prefetch_related(
        Prefetch("versions", queryset=GalleryItemVersion.objects.order_by("-major", "-minor", "-build")),
        Prefetch("plans", queryset=Plan.objects.order_by("name")),
    ).get(pk=pk)


def gallery_version_get(*, item_pk, pk) -> GalleryItemVersion:
    """One version (any state) of the item ``item_pk``, with its item, for the admin portal."""
    return GalleryItemVersion.objects.select_related("item").get(pk=pk, item_id=item_pk)


def gallery_item_activity(*, item: GalleryItem) -> QuerySet[AuditEvent]:
    """The audit events about an item and its versions, newest first. Version events carry
    the item's slug, so a deleted draft's events stay on the item's page."""
    version_ids = [str(v.pk) for v in item.versions.all()]
    return AuditEvent.objects.filter(
        Q(target_type="galleryitem", target_id=str(item.pk))
        | Q(target_type="galleryitemversion", target_id__in=version_ids)
        | Q(target_type="galleryitemversion", data__item=item.slug)
    ).select_related("tenant")


def vm_size_list(*, search: str = "", state: str = "") -> QuerySet[VMSize]:
    qs = VMSize.objects.prefetch_related(Prefetch("plans", queryset=Plan.objects.order_by("name")))
    if search:
        qs = qs.filter(name__icontains=search)
    if state:
        qs = qs.filter(state=state)
    return qs


def vm_size_get(*, pk) -> VMSize:
    return VMSize.objects.prefetch_related(Prefetch("plans", queryset=Plan.objects.order_by("name"))).get(
        pk=pk
    )
