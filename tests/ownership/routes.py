"""Enumerate every URL pattern the project serves, HTML and API alike."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or the pattern itself when unnamed
    pattern: str  # the full route, e.g. "subscriptions/<uuid:pk>/cancel/"
    callback: object

    @property
    def params(self) -> list[str]:
        return [m.group("name") for m in _PARAM.finditer(self.pattern)]

    def methods(self) -> list[str]:
        """HTTP methods the view handles, for class-based views; None-like for functions."""
        cls = getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)
        if cls is None:
            return []
        return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)]


def iter_routes(patterns=None, prefix: str = "", namespace: str | None = None):
    if patterns is None:
        patterns = get_resolver().url_patterns
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            full_ns = ":".join(filter(None, [namespace, ns])) if ns else namespace
            yield from iter_routes(entry.url_patterns, prefix + str(entry.pattern), full_ns)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            if entry.name:
                name = f"{namespace}:{entry.name}" if namespace else entry.name
            else:
                name = route
            yield Route(name=name, pattern=route, callback=entry.callback)


def all_routes(skip_prefixes: tuple[str, ...] = ()) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for route in iter_routes():
        if route.pattern.startswith(skip_prefixes):
            continue
        # DRF format-suffix patterns and the like repeat a name; the first is the canonical one.
        routes.setdefault(route.name, route)
    return routes


def fill(pattern: str, values: dict[str, str]) -> str:
    """Turn a route pattern into a path, substituting each <conv:name> from ``values``."""

    def sub(match: re.Match) -> str:
        return str(values[match.group("name")])

    path = _PARAM.sub(sub, pattern)
    # Regex-based routes (re_path) are not used for tenant data; strip anchors defensively.
    return "/" + path.lstrip("^").rstrip("$")
