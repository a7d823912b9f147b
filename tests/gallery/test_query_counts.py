"""The tenant gallery's list page and API list cost a constant number of queries: the same
with 50 items offered as with 500, each with five versions."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gallery.models import GalleryItem, GalleryItemVersion
from tests.api.conftest import Api
from tests.gallery.helpers import package

STATES = ("deprecated", "published", "published", "published", "draft")


def offer_items(plan, start: int, stop: int) -> None:
    """Items ``start`` .. ``stop - 1``, five versions each, offered by ``plan`` (bulk)."""
    doc = package()["versions"][0]
    items = [
        GalleryItem(
            id=uuid.uuid4(), name=f"Item {i:04d}", slug=f"item-{i:04d}", publisher="Us", category="os"
        )
        for i in range(start, stop)
    ]
    GalleryItem.objects.bulk_create(items)
    GalleryItemVersion.objects.bulk_create(
        GalleryItemVersion(
            item=item,
            major=1,
            minor=n,
            build=0,
            state=state,
            published_at=None if state == "draft" else timezone.now(),
            resource_definition=doc["resource"],
            parameter_definition=doc["parameters"],
            resource_extension=doc["extension"],
        )
        for item in items
        for n, state in enumerate(STATES)
    )
    through = GalleryItem.plans.through
    through.objects.bulk_create(through(galleryitem_id=item.pk, plan_id=plan.pk) for item in items)


def queries(get) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = get()
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("params", [{}, {"q": "item 0", "os": "linux"}, {"page": "2"}])
def test_the_gallery_page_runs_as_many_queries_for_500_items_as_for_50(
    client_alice, plan, acme_subscription, params
):
    def get():
        return client_alice.get(reverse("gallery:list"), params)

    offer_items(plan, 0, 50)
    get()  # the first request of a session may warm something up once
    few = queries(get)
    offer_items(plan, 50, 500)
    assert queries(get) == few
    html = get().content.decode()
    # What the cards show came from the same queries: the newest published version.
    assert "Latest version 1.3.0" in html and "1.4.0" not in html


def test_the_gallery_api_list_runs_as_many_queries_for_500_items_as_for_50(alice, plan, acme_subscription):
    api = Api(user=alice)

    def get():
        return api.get("/gallery/items/")

    offer_items(plan, 0, 50)
    get()
    few = queries(get)
    offer_items(plan, 50, 500)
    assert queries(get) == few
    assert get().json()["count"] == 500
