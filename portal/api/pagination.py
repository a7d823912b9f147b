"""Page-number pagination for every API list: ``{"count", "next", "previous", "results"}``."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Count, QuerySet, Window
from django.db.models.query import ModelIterable, ValuesIterable
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

_TOTAL = "_page_total"


def _counts_in_window(queryset) -> bool:
    """Whether the total can ride along on the page query as ``COUNT(*) OVER ()``.

    Not for DISTINCT (the window counts rows before duplicates go), unions, ``values_list()``
    querysets (their tuples have no name to read the total by) or grouped ``values()``
    querysets (``COUNT(pk)`` is not among their GROUP BY columns); model instances carry the
    total as an attribute, ``values()`` dicts as a key."""
    if not isinstance(queryset, QuerySet):
        return False
    query = queryset.query
    if query.distinct or query.combinator:
        return False
    if queryset._iterable_class is ValuesIterable:
        return query.group_by is None
    return queryset._iterable_class is ModelIterable


def _fetch_page(queryset, offset: int, size: int) -> tuple[list, int]:
    """The rows from ``offset`` on and the total, in one query where it can.

    The window count suits small lists: ``COUNT(*) OVER ()`` makes the database read and
    join every matching row before LIMIT applies (about 44 ms for a tenant's 5,000 VMs). A
    large list fetches its pages its own way, with the total as a join-free scalar count
    (``portal.pagination.total_of``, ``compute.selectors.vm_list_page``)."""
    if _counts_in_window(queryset):
        rows = list(queryset.annotate(**{_TOTAL: Window(Count("pk"))})[offset : offset + size])
        if not rows:
            return rows, 0
        if isinstance(rows[0], dict):
            for row in rows:  # the total is the page's business, not the rows'
                count = row.pop(_TOTAL)
            return rows, count
        return rows, getattr(rows[0], _TOTAL)
    rows = list(queryset[offset : offset + size])
    if len(rows) < size and (rows or not offset):  # the last page tells its own total
        return rows, offset + len(rows)
    return rows, queryset.count()


class PortalPagination(PageNumberPagination):
    """``?page=N`` and ``?page_size=M`` (at most 500), in one query where it can.

    Django's paginator runs ``COUNT(*)`` and then fetches the page: two round trips on every
    list request. Here the page query carries the total as a window function (counted over
    the whole filtered set before LIMIT applies); where that does not fit, a page that is not
    full still tells its own total (offset + rows), and only a full page pays for a COUNT.
    """

    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None) -> list | None:
        return self.paginate_with(lambda offset, size: _fetch_page(queryset, offset, size), request)

    def paginate_with(self, fetch: Callable[[int, int], tuple[list, int | None]], request) -> list | None:
        """Paginate what ``fetch(offset, size)`` returns, the page's rows and the total count:
        for a list that fetches its pages its own way (``subscription_rows_page``,
        ``vm_list_page``). A total of None comes with an empty page, which cannot tell it:
        past the end (a 404 for any page but the first) or of an empty list."""
        self.request = request
        size = self.get_page_size(request)
        if not size:
            return None
        number = self._page_number(request)
        offset = (number - 1) * size
        rows, count = fetch(offset, size)
        if not rows and number > 1:
            raise NotFound("Invalid page.")
        self.count = offset if count is None else count
        self.number, self.size = number, size
        return rows

    def _page_number(self, request) -> int:
        raw = request.query_params.get(self.page_query_param) or "1"
        try:
            number = int(raw)
        except ValueError:
            raise NotFound("Invalid page.") from None
        if number < 1:
            raise NotFound("Invalid page.")
        return number

    def get_next_link(self) -> str | None:
        if self.number * self.size >= self.count:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, self.number + 1)

    def get_previous_link(self) -> str | None:
        if self.number == 1:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )
