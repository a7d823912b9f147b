"""Shared API plumbing: the JSON renderer, pagination, error shapes."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from portal.api.pagination import PortalPagination
from portal.api.renderers import ORJSONRenderer
from subscriptions.models import Plan
from tests.factories import PlanFactory


def test_the_orjson_renderer_writes_what_drfs_renderer_writes():
    data = {
        "text": "Ünïcode ☁",
        "lazy": gettext_lazy("Not found."),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "amount": Decimal("1.50"),
        "when": "2026-01-01T00:00:00Z",
        "nested": [{"a": 1, "b": None, "c": True}],
    }
    assert json.loads(ORJSONRenderer().render(data)) == json.loads(JSONRenderer().render(data))
    assert ORJSONRenderer().render(None) == b""
    assert "☁".encode() in ORJSONRenderer().render({"x": "☁"})


def test_the_renderer_serialises_dates_like_iso_8601():
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert json.loads(ORJSONRenderer().render({"when": when}))["when"].startswith("2026-01-02T03:04:05")


def _page(number: int, size: int, queryset=None):
    request = Request(APIRequestFactory().get("/x/", {"page": number, "page_size": size}))
    paginator = PortalPagination()
    with CaptureQueriesContext(connection) as queries:
        rows = paginator.paginate_queryset(
            queryset if queryset is not None else Plan.objects.order_by("name"), request
        )
    return paginator, rows, len(queries)


@pytest.mark.django_db
def test_pagination_counts_in_the_page_query():
    for i in range(7):
        PlanFactory(name=f"Plan {i}")
    paginator, rows, queries = _page(1, 3)
    assert (paginator.count, len(rows), queries) == (7, 3, 1)
    assert paginator.get_next_link().endswith("page=2&page_size=3")
    paginator, rows, queries = _page(3, 3)
    assert (paginator.count, [p.name for p in rows], queries) == (7, ["Plan 6"], 1)
    assert paginator.get_next_link() is None
    assert "page=2" in paginator.get_previous_link()


@pytest.mark.django_db
def test_pagination_falls_back_to_count_for_distinct_querysets():
    for i in range(4):
        PlanFactory(name=f"Plan {i}")
    paginator, rows, queries = _page(1, 2, Plan.objects.order_by("name").distinct())
    assert (paginator.count, len(rows), queries) == (4, 2, 2)
    paginator, rows, queries = _page(2, 3, Plan.objects.order_by("name").distinct())
    assert (paginator.count, len(rows), queries) == (4, 1, 1)


@pytest.mark.django_db
def test_pagination_counts_values_querysets_in_the_page_query_and_keeps_the_total_out_of_rows():
    for i in range(5):
        PlanFactory(name=f"Plan {i}")
    paginator, rows, queries = _page(2, 2, Plan.objects.order_by("name").values("name"))
    assert (paginator.count, rows, queries) == (5, [{"name": "Plan 2"}, {"name": "Plan 3"}], 1)


@pytest.mark.django_db
def test_pagination_falls_back_to_count_for_grouped_values_querysets():
    for i in range(3):
        PlanFactory(name=f"Plan {i}", vms=i % 2)
    grouped = Plan.objects.values("vms").annotate(n=Count("pk")).order_by("vms")
    paginator, rows, queries = _page(1, 1, grouped)
    assert (paginator.count, rows, queries) == (2, [{"vms": 0, "n": 2}], 2)


@pytest.mark.django_db
def test_pagination_falls_back_to_count_for_values_list_querysets():
    for i in range(3):
        PlanFactory(name=f"Plan {i}")
    paginator, rows, queries = _page(1, 2, Plan.objects.order_by("name").values_list("name", flat=True))
    assert (paginator.count, rows, queries) == (3, ["Plan 0", "Plan 1"], 2)


def test_pagination_can_page_what_a_fetch_function_returns():
    request = Request(APIRequestFactory().get("/x/", {"page": 3, "page_size": 4}))
    asked = []

    def fetch(offset: int, size: int) -> tuple[list, int]:
        asked.append((offset, size))
        return ["a", "b"], 10

    paginator = PortalPagination()
    assert paginator.paginate_with(fetch, request) == ["a", "b"]
    assert asked == [(8, 4)]
    assert (paginator.count, paginator.get_next_link()) == (10, None)
    assert "page=2" in paginator.get_previous_link()
    with pytest.raises(NotFound):
        paginator.paginate_with(lambda offset, size: ([], 10), request)
    # An empty page cannot tell the total (None): past the end it is a 404, on page 1 zero.
    with pytest.raises(NotFound):
        paginator.paginate_with(lambda offset, size: ([], None), request)
    first = Request(APIRequestFactory().get("/x/", {"page_size": 4}))
    assert paginator.paginate_with(lambda offset, size: ([], None), first) == []
    assert paginator.count == 0


@pytest.mark.django_db
def test_an_empty_list_is_a_page_of_nothing_and_a_page_past_the_end_is_404():
    paginator, rows, _ = _page(1, 3)
    assert (paginator.count, rows) == (0, [])

    with pytest.raises(NotFound):
        _page(2, 3)


@pytest.mark.django_db
def test_an_unknown_route_under_the_api_is_a_json_404(client, alice):
    client.force_login(alice)
    response = client.get(f"/api/v1/subscriptions/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
