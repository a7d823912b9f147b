"""Cross-cutting models: the base classes every app uses, and the audit log."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class TenantQuerySet(models.QuerySet):
    """Queryset of rows that belong to one tenant.

    Every tenant-scoped read starts here: views never call ``Model.objects.get(pk=...)`` on
    tenant data, they call ``Model.objects.for_tenant(tenant).get(pk=...)`` so another
    tenant's id is simply "not found".
    """

    def for_tenant(self, tenant) -> TenantQuerySet:
        return self.filter(tenant=tenant)


class UUIDModel(models.Model):
    """Abstract base: objects are addressed by a random UUID, never an integer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    """One write, recorded: who did what to which object, in which tenant, when.

    Rows are never edited. ``target_repr`` keeps a readable name so the log still makes sense
    after the target is deleted.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the log names a user that was later deleted.
    actor_repr = models.CharField(max_length=254, blank=True)
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["tenant", "-created"])]

    def __str__(self) -> str:
        return f"{self.actor_repr or 'system'} {self.action} {self.target_repr}"
