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


class Job(UUIDModel):
    """One unit of provisioning work, run by a Celery worker (see portal/jobs.py).

    The row, not the broker message, is the truth: a worker claims a queued job with a
    conditional UPDATE that also writes a fresh ``claim`` token, and every later write of that
    run is conditional on the token, so a worker presumed dead (its heartbeat stopped and the
    sweeper re-queued the job) can never overwrite the state of the run that replaced it.

    A *group* job (deploy, scale, delete a deployment) runs no task of its own: it follows its
    children (one per VM) and ends when they all have.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    TERMINAL_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    kind = models.CharField(max_length=32, db_index=True)
    target_type = models.CharField(max_length=32)
    target_id = models.UUIDField(db_index=True)
    target_repr = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    claim = models.UUIDField(null=True, blank=True)
    run_after = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Shown to the tenant: plain words, never a host name, a traceback or a secret.
    message = models.CharField(max_length=500, blank=True)
    # Shown to service admins only: what really happened.
    detail = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created"]),
            models.Index(fields=["state", "heartbeat_at"]),
            models.Index(fields=["target_id", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.target_repr}".strip()

    KIND_LABELS = {
        "deploy": "Deploy",
        "create_vm": "Create VM",
        "start": "Start",
        "shutdown": "Shut down",
        "power_off": "Power off",
        "reset": "Reset",
        "delete_vm": "Delete VM",
        "scale_out": "Scale out",
        "scale_in": "Scale in",
        "delete_deployment": "Delete deployment",
        "stop_for_suspension": "Stop (subscription suspended)",
    }

    def get_kind_display(self) -> str:
        return self.KIND_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def is_group(self) -> bool:
        return self.kind in GROUP_KINDS


# Job kinds that only follow their children (see Job).
GROUP_KINDS = frozenset({"deploy", "scale_out", "scale_in", "delete_deployment"})


class IdempotencyKey(models.Model):
    """A POST's ``Idempotency-Key``: the first response is kept and replayed for repeats.

    Keys are per user and tenant (two tenants may pick the same key), and bound to the method,
    path and body of the first request: the same key with a different request is a 422.
    """

    key = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"idempotency key {self.key[:20]}"
