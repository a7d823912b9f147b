"""The audit log: every write records actor, tenant, action, target and time.

Services call ``audit_record`` inside their own transaction, so an event exists exactly when
the write it describes committed. The client address is taken from a context variable that
``CurrentTenantMiddleware`` sets per request, so services need not take a request argument.
"""

from __future__ import annotations

import contextvars
from typing import Any

from django.db import models

from portal.models import AuditEvent

current_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_ip", default=None)


def audit_record(
    *,
    actor,
    tenant,
    action: str,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event. ``actor`` may be None for the system (beat tasks)."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_repr=str(actor) if getattr(actor, "pk", None) else "system",
        tenant=tenant,
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        data=data or {},
        ip_address=current_ip.get(),
    )
