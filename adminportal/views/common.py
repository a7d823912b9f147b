"""Helpers shared by the admin portal's views."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

PAGE_SIZE = 25


def paginate(request: HttpRequest, queryset, *, param: str = "page", per_page: int = PAGE_SIZE) -> Page:
    return Paginator(queryset, per_page).get_page(request.GET.get(param))


def sorted_by(
    request: HttpRequest, queryset: QuerySet, allowed: dict[str, str], default: str
) -> tuple[QuerySet, str]:
    """Order ``queryset`` by the ``sort`` parameter (``name`` or ``-name``, keys of ``allowed``)."""
    wanted = request.GET.get("sort", "") or default
    key = wanted.removeprefix("-")
    if key not in allowed:
        wanted, key = default, default.removeprefix("-")
    field = allowed[key]
    # A tie-breaker keeps pages stable when many rows share the sorted value.
    return queryset.order_by(f"-{field}" if wanted.startswith("-") else field, "pk"), wanted


def get_or_404(selector, *args, **kwargs):
    """Call a ``*_get`` selector; "does not exist" (or a malformed id) becomes a 404."""
    try:
        return selector(*args, **kwargs)
    except (ObjectDoesNotExist, ValidationError):
        raise Http404 from None


def error_text(error: Exception) -> str:
    """A service error as one sentence for a flash message."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return getattr(error, "message", str(error))
