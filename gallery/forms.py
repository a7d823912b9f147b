"""The deploy wizard's form: subscription, instance count and the version's parameters.

The parameter fields come from the compiled definition (``Definition.form_state``), which
re-evaluates ``visible_if`` / ``choices_from`` on the server for the values so far; the htmx
partial endpoint re-renders them whenever a controlling field changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.http import QueryDict

from gallery.models import GalleryItemVersion, VMSize
from gallery.parameters import Context, ParameterValidationError, SectionState, redact
from gallery.selectors import subscriptions_offering, vm_sizes_for
from subscriptions.models import Subscription
from subscriptions.quota import DIMENSION_LABELS, DIMENSIONS, Demand
from subscriptions.services import quota_usage

PREFIX = "p_"  # parameter inputs are named p_<name> so they never clash with our own fields


@dataclass
class DeployForm:
    """The wizard state for one version: what was chosen and typed, and every problem."""

    version: GalleryItemVersion
    tenant: Any
    data: QueryDict | None = None
    language: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    cleaned: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.subscriptions = list(subscriptions_offering(tenant=self.tenant, item=self.version.item))
        low, high, default = self.version.instance_bounds
        self.instance_bounds = (low, high)
        data = self.data or {}
        chosen = str(data.get("subscription", "")) if data else ""
        self.subscription: Subscription | None = next(
            (s for s in self.subscriptions if str(s.pk) == chosen), None
        ) or (self.subscriptions[0] if self.subscriptions and not chosen else None)
        self.instance_count_raw = str(data.get("instance_count", default)) if data else str(default)
        self.sizes: list[VMSize] = (
            vm_sizes_for(version=self.version, plan=self.subscription.plan) if self.subscription else []
        )
        self.values = {
            k.removeprefix(PREFIX): v for k, v in (data.items() if data else []) if k.startswith(PREFIX)
        }
        for p in self.version.parameters.params.values():
            # An unchecked checkbox is simply absent from a form post.
            if p.type == "boolean" and self.data is not None:
                self.values[p.name] = self.values.get(p.name) in ("on", "true", "1", True)

    @property
    def context(self):
        allowed = self.version.validation_context(sizes=self.sizes, language=self.language)
        # Keep the plan's order and show each size with its summary.
        allowed_names = allowed.vm_sizes or frozenset()
        sizes = {s.name: f"{s.name} ({s.summary})" for s in self.sizes if s.name in allowed_names}

        return Context(vm_sizes=sizes, networks={}, language=allowed.language)

    def sections(self) -> list[SectionState]:
        return self.version.parameters.form_state(
            self.values, self.context, errors=self.errors, language=self.language
        )

    def validate(self) -> bool:
        """Collect every problem at once; True when the deployment could go ahead."""
        self.errors = {}
        if self.subscription is None:
            self.errors["subscription"] = ["Choose a subscription whose plan offers this item."]
        try:
            count = int(self.instance_count_raw)
            self.version.check_instance_count(count)
            self.instance_count = count
        except ValueError:
            self.errors["instance_count"] = ["Enter a whole number."]
        except ValidationError as exc:
            self.errors["instance_count"] = list(exc.message_dict["instance_count"])
        try:
            self.cleaned = self.version.parameters.validate(self.values, self.context, ignore_unknown=True)
        except ParameterValidationError as exc:
            self.errors.update(exc.errors)
        return not self.errors

    def redacted(self) -> dict[str, Any]:
        return redact(self.cleaned)

    def quota_rows(self) -> list[dict] | None:
        """needed / used / limit / remaining per dimension, or None without a size or count."""
        if self.subscription is None or "instance_count" in self.errors:
            return None
        # With problems elsewhere nothing is cleaned: take the size as chosen, so the quota
        # impact still matches what the user picked (an unknown size simply shows no table).
        size_name = self.version.size_name(self.cleaned or self.values)
        size = next((s for s in self.sizes if s.name == size_name), None)
        if size is None:
            return None
        return quota_impact(
            self.subscription, self.version.demand(self.instance_count, size, values=self.cleaned)
        )


def quota_impact(subscription: Subscription, demand: Demand) -> list[dict]:
    """Per quota dimension: what ``demand`` needs against what ``subscription`` has left."""
    usage = quota_usage(subscription)
    rows = []
    for d in DIMENSIONS:
        needed, used, limit = getattr(demand, d), getattr(usage.used, d), getattr(usage.limit, d)
        rows.append(
            {
                "label": DIMENSION_LABELS[d],
                "dimension": d,
                "needed": needed,
                "used": used,
                "limit": limit,
                "remaining": max(limit - used, 0),
                "exceeds": bool(needed) and used + needed > limit,
            }
        )
    return rows
