"""Page-number pagination for every API list: ``{"count", "next", "previous", "results"}``."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


class PortalPagination(PageNumberPagination):
    """``?page=N`` and ``?page_size=M`` (at most 500).

    Unlike Django's paginator it fetches the page first and only runs ``COUNT(*)`` when the
    page is full: on a last (or only) page the total is the offset plus the rows, which is the
    common case for a tenant's lists and saves a query on every such request.
    """

    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None) -> list | None:
        self.request = request
        size = self.get_page_size(request)
        if not size:
            return None
        number = self._page_number(request)
        offset = (number - 1) * size
        rows = list(queryset[offset : offset + size])
        if not rows and number > 1:
            raise NotFound("Invalid page.")
        self.count = offset + len(rows) if len(rows) < size else queryset.count()
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
