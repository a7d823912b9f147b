"""``{% url %}`` that remembers argument-less reversals (a template builtin, see settings).

Every page's chrome (the navigation, the tenant and user menus) reverses the same dozen or so
URL names with no arguments, and ``reverse()`` costs Django 15–20 µs of Python each time: on
the VM list page that was about a tenth of the request (benchmarks/vm_list.py). Such a URL
depends only on the URLconf, the script prefix and the current app, so it is kept per process
under exactly those. A tag with arguments, or with ``as var``, takes Django's path unchanged
apart from the cache; a name that does not reverse raises as before (nothing is cached).
"""

from __future__ import annotations

from django.conf import settings
from django.template import Library
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

register = Library()

_reversed: dict[tuple, str] = {}


def _current_app(context) -> str | None:
    # As Django's URLNode chooses it.
    try:
        return context.request.current_app
    except AttributeError:
        try:
            return context.request.resolver_match.namespace
        except AttributeError:
            return None


class CachedURLNode(URLNode):
    def render(self, context) -> str:
        if self.args or self.kwargs:
            return super().render(context)
        view_name = self.view_name.resolve(context)
        current_app = _current_app(context)
        key = (view_name, current_app, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
        url = _reversed.get(key)
        if url is None:
            try:
                url = _reversed[key] = reverse(view_name, current_app=current_app)
            except NoReverseMatch:
                if self.asvar is None:
                    raise
                url = ""  # Django's ``as var`` answer to a name that does not reverse
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token) -> URLNode:
    node = django_url(parser, token)
    return CachedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
