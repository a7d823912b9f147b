"""Template helpers of the admin portal."""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

from subscriptions.quota import DIMENSION_LABELS, DIMENSIONS

register = template.Library()

# Audit targets that have a page in the admin portal, by AuditEvent.target_type.
_TARGET_ROUTES = {
    "tenant": "adminportal:tenant_detail",
    "user": "adminportal:user_detail",
    "plan": "adminportal:plan_detail",
    "addon": "adminportal:addon_edit",
    "subscription": "adminportal:subscription_detail",
    "host": "adminportal:host_detail",
}


@register.filter
def quota_summary(obj, sign: str = "") -> str:
    """The non-zero quota dimensions of a plan or add-on, e.g. "10 VMs · 20 vCPUs"."""
    parts = [f"{sign}{getattr(obj, d)} {DIMENSION_LABELS[d]}" for d in DIMENSIONS if getattr(obj, d)]
    return " · ".join(parts) or "no quota"


@register.filter
def event_target_url(event) -> str:
    """The admin page of an audit event's target, or "" when it has none."""
    route = _TARGET_ROUTES.get(event.target_type)
    if not route or not event.target_id:
        return ""
    try:
        return reverse(route, args=[event.target_id])
    except NoReverseMatch:
        return ""
