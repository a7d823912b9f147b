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
from gallery.parameters import REDACTED, Context, FieldState, ParameterValidationError, SectionState, redact
from gallery.selectors import subscriptions_offering, vm_sizes_for
from subscriptions.models import Subscription
from subscriptions.quota import DIMENSION_LABELS, DIMENSIONS, Demand
from subscriptions.services import quota_usage

PREFIX = "p_"  # parameter inputs are named p_<name> so they never clash with our own fields

# The wizard's own steps around the version's sections. Section names are [a-z][a-z0-9_]*
# (the package schema), so these ids, with a dash, can never clash with a section's "sec-<name>".
SUBSCRIPTION_STEP = "deploy-subscription"
INSTANCES_STEP = "deploy-instances"
# What the form calls its own fields (parameters bring their own, localised, labels).
OWN_LABELS = {"subscription": "Subscription", "instance_count": "Instances"}
OWN_STEPS = {SUBSCRIPTION_STEP: "Subscription", INSTANCES_STEP: "How many"}


@dataclass(frozen=True)
class Problem:
    """One thing to fix before deploying, as the review lists it."""

    name: str  # the key the API uses: subscription, instance_count, a parameter, a quota dimension
    label: str  # what the form calls it, in the user's language
    messages: tuple[str, ...]
    anchor: str  # the element to jump to: the input, or the quota table
    step: str  # the id of the step that holds it
    is_quota: bool = False


@dataclass(frozen=True)
class Step:
    """One step of the wizard: our subscription and instance steps, or one of the version's
    sections (``section`` set) that has at least one visible field."""

    anchor: str
    number: int
    label: str
    section: SectionState | None = None
    problems: int = 0


@dataclass(frozen=True)
class SettingRow:
    """One chosen value as the review shows it: a choice's label rather than its value."""

    name: str
    label: str
    value: str


@dataclass
class DeployForm:
    """The wizard state for one version: what was chosen and typed, and every problem."""

    version: GalleryItemVersion
    tenant: Any
    data: QueryDict | None = None
    language: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    cleaned: dict[str, Any] = field(default_factory=dict)
    valid: bool | None = None  # None until validated
    quota: list[dict] | None = None  # the quota impact, once reviewed (None: not computable)
    # Memoised until the next validate(): the steps, the problems and the summary all read them.
    _sections: list[SectionState] | None = field(default=None, repr=False)
    _steps: list[Step] | None = field(default=None, repr=False)

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
        if self._sections is None:
            self._sections = self.version.parameters.form_state(
                self.values, self.context, errors=self.errors, language=self.language
            )
        return self._sections

    def steps(self) -> list[Step]:
        """The wizard's steps in order: the subscription, each section with a visible field,
        then the instance count (right before the review, which shows what it costs)."""
        if self._steps is not None:
            return self._steps
        counts: dict[str, int] = {}
        for problem in self.problems():
            counts[problem.step] = counts.get(problem.step, 0) + 1
        steps = [
            Step(
                SUBSCRIPTION_STEP, 1, OWN_STEPS[SUBSCRIPTION_STEP], problems=counts.get(SUBSCRIPTION_STEP, 0)
            )
        ]
        for section in self.sections():
            if section.visible_fields:
                anchor = f"sec-{section.name}"
                steps.append(Step(anchor, len(steps) + 1, section.label, section, counts.get(anchor, 0)))
        steps.append(
            Step(
                INSTANCES_STEP,
                len(steps) + 1,
                OWN_STEPS[INSTANCES_STEP],
                problems=counts.get(INSTANCES_STEP, 0),
            )
        )
        self._steps = steps
        return steps

    def validate(self) -> bool:
        """Collect every problem at once; True when the deployment could go ahead."""
        self._sections = self._steps = None
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

    def review(self) -> bool:
        """The review step: every problem and the quota impact at once. True when nothing
        stands in the way (valid and within quota)."""
        self.valid = self.validate()
        self.quota = self.quota_rows()
        self._steps = None
        return self.valid and not self.quota_exceeded

    @property
    def quota_exceeded(self) -> bool:
        return any(row["exceeds"] for row in self.quota or [])

    def problems(self) -> list[Problem]:
        """Every problem in the order of the form, each named by its label (localised for
        parameters) with its name kept beside it, then every quota dimension that would be
        exceeded."""
        errors = dict(self.errors)
        out = []
        if "subscription" in errors:
            out.append(self._own_problem("subscription", errors.pop("subscription"), SUBSCRIPTION_STEP))
        for section in self.sections():
            for f in section.fields:
                if f.name in errors:
                    anchor = f"{PREFIX}{f.name}"
                    out.append(
                        Problem(
                            f.name, f.label, tuple(errors.pop(f.name)), f"id_{anchor}", f"sec-{section.name}"
                        )
                    )
        instance_count = errors.pop("instance_count", None)
        # Anything left names no field on the form (a non-field error): list it, never drop it.
        for name, messages in errors.items():
            out.append(Problem(name, name, tuple(messages), "deploy-fields", SUBSCRIPTION_STEP))
        if instance_count:
            out.append(self._own_problem("instance_count", instance_count, INSTANCES_STEP))
        for row in self.quota or []:
            if row["exceeds"]:
                message = f"needs {row['needed']}, but only {row['remaining']} of {row['limit']} remain."
                out.append(
                    Problem(row["dimension"], row["label"], (message,), "quota-impact", INSTANCES_STEP, True)
                )
        return out

    @staticmethod
    def _own_problem(name: str, messages: list[str], step: str) -> Problem:
        return Problem(name, OWN_LABELS[name], tuple(messages), f"id_{name}", step)

    def summary(self) -> list[tuple[str, list[SettingRow]]]:
        """The cleaned values by section, as people read them: labels, choice labels,
        Yes/No, and secrets as ``********``."""
        values = redact(self.cleaned)
        out = []
        if self.subscription is not None and "instance_count" not in self.errors:
            subscription = f"{self.subscription.name} ({self.subscription.plan.name})"
            out.append(
                (
                    "Deployment",
                    [
                        SettingRow("subscription", OWN_LABELS["subscription"], subscription),
                        SettingRow("instance_count", OWN_LABELS["instance_count"], str(self.instance_count)),
                    ],
                )
            )
        for section in self.sections():
            rows = [
                SettingRow(f.name, f.label, _display(f, values[f.name]))
                for f in section.visible_fields
                if f.name in values
            ]
            if rows:
                out.append((section.label, rows))
        return out

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


def _display(f: FieldState, value: Any) -> str:
    if value == REDACTED and f.type == "secret":
        return REDACTED
    if isinstance(value, bool):
        return "Yes" if value else "No"
    labels = dict(f.choices)
    return labels.get(str(value), str(value))


def quota_impact(subscription: Subscription, demand: Demand) -> list[dict]:
    """Per quota dimension: what ``demand`` needs against what ``subscription`` has left."""
    usage = quota_usage(subscription)
    rows = []
    for d in DIMENSIONS:
        needed, used, limit = getattr(demand, d), getattr(usage.used, d), getattr(usage.limit, d)
        used_percent = _percent(used, limit)
        rows.append(
            {
                "label": DIMENSION_LABELS[d],
                "dimension": d,
                "needed": needed,
                "used": used,
                "limit": limit,
                "remaining": max(limit - used, 0),
                "exceeds": bool(needed) and used + needed > limit,
                # For the review's stacked bar: what is used, then what this would add, of
                # the limit. The two never draw past the end of the bar.
                "used_percent": used_percent,
                "needed_percent": min(_percent(needed, limit), 100 - used_percent),
            }
        )
    return rows


def _percent(part: int, whole: int) -> int:
    if whole <= 0:
        return 100 if part else 0
    # Anything at all shows as at least a sliver.
    return min(max(round(100 * part / whole), 1 if part else 0), 100)
