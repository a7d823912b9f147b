import html
from functools import lru_cache

from django import template
from django.utils.safestring import mark_safe

register = template.Library()

_STATE_COLOURS = {
    "active": "success",
    "enabled": "success",
    "running": "success",
    "succeeded": "success",
    "accepted": "success",
    "pending": "primary",
    "queued": "primary",
    "running_job": "primary",
    "starting": "primary",
    "stopping": "primary",
    "deleting": "primary",
    "provisioning": "primary",
    "stopped": "secondary",
    "cancelled": "secondary",
    "retired": "secondary",
    "revoked": "secondary",
    "expired": "secondary",
    "disabled": "secondary",
    "failed": "danger",
    "error": "danger",
    "suspended": "warning",
    "draining": "warning",
    # compute: deployments, VM statuses (task, power or provisioning state)
    "ready": "success",
    "deploying": "primary",
    "scaling": "primary",
    "building": "primary",
    "spawning": "primary",
    "powering_on": "primary",
    "shutting_down": "primary",
    "powering_off": "primary",
    "rebooting": "primary",
    "shutdown": "secondary",
    "nostate": "secondary",
    "deleted": "secondary",
    "paused": "warning",
    "degraded": "warning",
    "crashed": "danger",
}


@register.filter
def state_colour(state: str) -> str:
    """The badge colour of a state: one meaning across the whole product."""
    return _STATE_COLOURS.get(str(state).lower(), "light")


@register.simple_tag(takes_context=True)
def query_replace(context, **kwargs) -> str:
    """The current query string with some parameters replaced (for pagination and sorting)."""
    query = context["request"].GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = value
    return query.urlencode()


@register.simple_tag(takes_context=True)
def sort_link(context, field: str, label: str) -> str:
    """A column header link that toggles sorting by ``field``."""
    from django.utils.html import format_html

    request = context["request"]
    current = request.GET.get("sort", "")
    descending = current == field
    new = f"-{field}" if descending else field
    query = request.GET.copy()
    query["sort"] = new
    query.pop("page", None)
    arrow = " ▲" if current == field else (" ▼" if current == f"-{field}" else "")
    return format_html('<a href="?{}" class="sort-link">{}{}</a>', query.urlencode(), label, arrow)


@register.simple_tag
def select_options(choices, selected=None) -> str:
    """The ``<option>`` elements of a ``<select>`` for ``(value, label)`` pairs, ``selected``
    marked. In Python, not a template loop: a filter may offer hundreds (the VM list's
    deployments), at a few µs each here against about 20 in a ``{% for %}``. A tuple of
    choices (immutable: the VM list's are cached per version) is rendered once."""
    try:
        options = _options_html(choices) if isinstance(choices, tuple) else _options(choices)
    except TypeError:  # a tuple of something unhashable: not cached
        options = _options(choices)
    if selected not in (None, ""):
        value = html.escape(str(selected))
        options = options.replace(f'<option value="{value}">', f'<option value="{value}" selected>')
    return mark_safe(options)  # noqa: S308 (values and labels escaped in _options)


def _options(choices) -> str:
    escape = html.escape
    return "".join(
        f'<option value="{escape(str(value))}">{escape(str(label))}</option>' for value, label in choices
    )


_options_html = lru_cache(maxsize=64)(_options)
