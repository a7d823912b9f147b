"""What tenants see of the gallery, and in how many queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gallery.models import GalleryItem, GalleryItemVersion
from gallery.selectors import (
    gallery_cards_for_tenant,
    gallery_item_for_tenant,
    gallery_item_get,
    gallery_item_list,
    gallery_items_for_tenant,
    gallery_version_for_tenant,
    subscriptions_offering,
    vm_sizes_for,
)
from subscriptions.models import Subscription
from tests.factories import PlanFactory, SubscriptionFactory
from tests.gallery.helpers import make_version


def _item(slug: str, *plans, versions: tuple[str, ...] = ("published",)) -> GalleryItem:
    item = GalleryItem.objects.create(name=slug.title(), slug=slug, publisher="Us", category="os")
    item.plans.set(plans)
    for i, state in enumerate(versions):
        make_version(item, f"1.{i}.0", state=state)
    return item


@pytest.fixture
def private_plan(db):
    return PlanFactory(name="Private", visibility="private")


def test_a_tenant_sees_published_items_of_its_active_plans_only(acme, acme_subscription, plan, private_plan):
    offered = _item("offered", plan)
    _item("drafts-only", plan, versions=("draft", "deprecated"))
    _item("private", private_plan)
    _item("nowhere")
    assert list(gallery_items_for_tenant(tenant=acme)) == [offered]


def test_a_private_item_of_one_plan_is_invisible_to_a_tenant_without_it(
    acme, globex, acme_subscription, private_plan
):
    private = _item("private", private_plan)
    SubscriptionFactory(tenant=globex, plan=private_plan)
    version = private.versions.get()
    assert gallery_item_for_tenant(tenant=globex, pk=private.pk) == private
    assert gallery_version_for_tenant(tenant=globex, pk=version.pk) == version
    with pytest.raises(GalleryItem.DoesNotExist):
        gallery_item_for_tenant(tenant=acme, pk=private.pk)
    with pytest.raises(GalleryItemVersion.DoesNotExist):
        gallery_version_for_tenant(tenant=acme, pk=version.pk)


@pytest.mark.parametrize("state", [Subscription.State.SUSPENDED, Subscription.State.CANCELLED])
def test_items_of_an_inactive_subscriptions_plan_disappear(acme, acme_subscription, plan, state):
    item = _item("offered", plan)
    Subscription.objects.filter(pk=acme_subscription.pk).update(state=state)
    assert not gallery_items_for_tenant(tenant=acme).exists()
    with pytest.raises(GalleryItemVersion.DoesNotExist):
        gallery_version_for_tenant(tenant=acme, pk=item.versions.get().pk)


def test_an_inactive_subscription_does_not_hide_what_an_active_one_offers(acme, acme_subscription, plan):
    item = _item("offered", plan)
    SubscriptionFactory(tenant=acme, plan=plan, state=Subscription.State.SUSPENDED, name="Old")
    assert list(gallery_items_for_tenant(tenant=acme)) == [item]


def test_draft_and_deprecated_versions_are_not_found_for_tenants(acme, acme_subscription, plan):
    item = _item("offered", plan, versions=("published", "draft", "deprecated"))
    published, draft, deprecated = item.versions.order_by("minor")
    assert gallery_version_for_tenant(tenant=acme, pk=published.pk) == published
    for version in (draft, deprecated):
        with pytest.raises(GalleryItemVersion.DoesNotExist):
            gallery_version_for_tenant(tenant=acme, pk=version.pk)
    [listed] = gallery_items_for_tenant(tenant=acme)
    assert listed.published_versions == [published]


def test_search_and_filters(acme, acme_subscription, plan):
    web = _item("web", plan)
    db = GalleryItem.objects.create(name="Postgres", slug="pg", publisher="Elephants", category="database")
    db.plans.set([plan])
    make_version(db)
    assert list(gallery_items_for_tenant(tenant=acme, search="eleph")) == [db]
    assert list(gallery_items_for_tenant(tenant=acme, category="os")) == [web]
    assert list(gallery_items_for_tenant(tenant=acme, os_family="windows")) == []


def _count_queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_the_tenant_gallery_costs_the_same_queries_for_2_or_20_items(acme, acme_subscription, plan):
    def read():
        for item in gallery_items_for_tenant(tenant=acme):
            [v.version for v in item.published_versions]

    for i in range(2):
        _item(f"item-{i}", plan, versions=("published", "published", "draft"))
    few = _count_queries(read)
    for i in range(2, 20):
        _item(f"item-{i}", plan, versions=("published", "published", "draft"))
    assert _count_queries(read) == few == 2


def test_the_admin_list_costs_the_same_queries_for_2_or_20_items(db, plan, private_plan):
    def read():
        for item in gallery_item_list():
            (item.version_count, item.published_count, item.draft_count, [p.name for p in item.plans.all()])

    for i in range(2):
        _item(f"item-{i}", plan, private_plan, versions=("published", "draft"))
    few = _count_queries(read)
    for i in range(2, 20):
        _item(f"item-{i}", plan, versions=("published", "draft"))
    assert _count_queries(read) == few == 2
    first = gallery_item_list().get(slug="item-0")
    assert (first.version_count, first.published_count, first.draft_count) == (2, 1, 1)


def test_the_admin_item_page_prefetches_versions_and_plans(db, plan):
    item = _item("web", plan, versions=("published", "draft"))
    with CaptureQueriesContext(connection) as ctx:
        got = gallery_item_get(pk=item.pk)
        [v.version for v in got.versions.all()], [p.name for p in got.plans.all()]
    assert len(ctx.captured_queries) == 3
    assert [v.version for v in got.versions.all()] == ["1.1.0", "1.0.0"]


def test_subscriptions_offering_an_item_and_the_sizes_they_allow(
    acme, acme_subscription, plan, sizes, private_plan
):
    item = _item("web", plan)
    SubscriptionFactory(tenant=acme, plan=private_plan, name="Other plan")
    assert list(subscriptions_offering(tenant=acme, item=item)) == [acme_subscription]
    version = item.versions.get()
    sizes["medium"].plans.add(plan)
    sizes["large"].plans.add(plan)  # offered by the plan, not listed by the version
    sizes["small"].plans.add(private_plan)
    assert vm_sizes_for(version=version, plan=plan) == [sizes["medium"]]


def test_gallery_cards_carry_the_newest_published_version_number(acme, acme_subscription, plan, private_plan):
    item = _item("cards", plan, versions=("published", "published", "deprecated", "draft"))
    make_version(item, "1.10.0", state="published")  # newer than 1.9.x, though it sorts lower as text
    make_version(item, "1.9.0", state="published")
    _item("private", private_plan)
    [card] = gallery_cards_for_tenant(tenant=acme)
    assert (card, card.latest_version) == (item, "1.10.0")
    assert list(gallery_cards_for_tenant(tenant=acme, search="nothing")) == []


def test_gallery_cards_are_one_query_per_page(acme, acme_subscription, plan):
    for i in range(12):
        _item(f"item-{i}", plan, versions=("published", "draft"))
    assert _count_queries(lambda: [c.latest_version for c in gallery_cards_for_tenant(tenant=acme)[:10]]) == 1
