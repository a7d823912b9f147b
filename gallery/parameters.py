"""The parameter-definition engine: typed, localisable, dependent parameters. No database.

A parameter definition is ``{"sections": [{"name", "label", "parameters": [...]}, ...]}``
(the format is documented in docs/gallery-packages.md and checked by the package JSON Schema).
``compile_definition`` parses it once into a ``Definition``: typed ``Param`` objects with
precompiled regexes, compiled ``visible_if`` conditions and ``choices_from`` maps, and an
evaluation order in which every parameter comes after the ones it depends on. Compiling runs
the definition-time checks (unknown references, cycles, duplicate names, defaults that do not
validate, attributes that do not fit the type…) and raises ``DefinitionError`` listing every
problem with its path.

``Definition.validate(values, context)`` then returns the cleaned values or raises
``ParameterValidationError`` (a Django ``ValidationError``) naming every field with a
problem. Hidden parameters are neither validated nor kept. Secrets come back wrapped in
``Secret`` so that a stray log line or repr shows ``********``; ``redact`` and ``reveal``
turn cleaned values into plain dicts for logs and for the guest payload respectively.

Validation is the hot path (every wizard step, every API dry run), so each parameter gets a
specialised cleaning closure at compile time (``gallery/compiler.py`` holds the compiler and
its definition checks) and ``validate`` allocates little beyond its result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

PARAMETER_TYPES = (
    "string",
    "integer",
    "boolean",
    "choice",
    "secret",
    "ssh_public_key",
    "vm_size",
    "tenant_network",
    "hostname_prefix",
)

REDACTED = "********"
NON_FIELD = "__all__"


class _Missing:
    """No value: absent, null, or empty text."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class Secret:
    """A secret value. Its repr and str are ``********``, so logging a dict of cleaned values
    or formatting one into a message never shows it; ``reveal()`` is the one way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self):
        # Refuse to be pickled (a Celery or cache payload would carry the clear text).
        raise TypeError("Secret values are not picklable; pass reveal() explicitly if you must.")


def redact(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe for logs, audit data and echoing back: every secret is ``********``."""
    return {k: (REDACTED if isinstance(v, Secret) else v) for k, v in values.items()}


def reveal(values: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy with secrets in clear text, for the guest payload only."""
    return {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in values.items()}


PathParts = tuple[str | int, ...]


class DefinitionError(Exception):
    """A parameter definition (or template) that cannot be used, with every problem found:
    ``problems`` is a list of ``(path parts, message)``, paths relative to the definition."""

    def __init__(self, problems: list[tuple[PathParts, str]]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"{_fmt_path(p)}: {m}" for p, m in problems[:5])
            + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        )

    def messages(self, root: str = "$") -> list[str]:
        return [f"{_fmt_path(p, root)}: {m}" for p, m in self.problems]


def _fmt_path(parts: Iterable[str | int], root: str = "$") -> str:
    from gallery.schema import json_path

    return json_path(parts, root)


class ParameterValidationError(ValidationError):
    """Every parameter problem at once: ``errors`` maps a parameter name to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__({name: list(messages) for name, messages in errors.items()})


class _Invalid(Exception):
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class Context:
    """What validation needs from outside the definition.

    ``vm_sizes`` and ``networks`` are what the deployer may choose from (the plan's sizes
    for this version, the tenant's networks): a collection of names, or a mapping of name to
    label to keep order and labels for the form. ``None`` means "not checked", for previews
    and definition-time checks only: deployment services always pass both.
    """

    __slots__ = ("language", "network_choices", "networks", "size_choices", "vm_sizes")

    def __init__(
        self,
        *,
        vm_sizes: Collection[str] | Mapping[str, str] | None = None,
        networks: Collection[str] | Mapping[str, str] | None = None,
        language: str | None = None,
    ) -> None:
        self.vm_sizes, self.size_choices = _choice_set(vm_sizes)
        self.networks, self.network_choices = _choice_set(networks)
        self.language = language


def _choice_set(source) -> tuple[frozenset[str] | None, tuple[tuple[str, str], ...]]:
    if source is None:
        return None, ()
    if isinstance(source, Mapping):
        return frozenset(str(k) for k in source), tuple((str(k), str(v)) for k, v in source.items())
    names = sorted(str(s) for s in source)
    return frozenset(names), tuple((n, n) for n in names)


_NO_CONTEXT = Context()


class LocalText:
    """A label or help text: one string, or ``{"en": ..., "de": ...}`` resolved by language
    with a fallback to the primary subtag, then the version's default language."""

    __slots__ = ("_cache", "_default", "_texts")

    def __init__(self, raw: str | Mapping[str, str], default_language: str) -> None:
        if isinstance(raw, str):
            self._texts = None
            self._default = raw
        else:
            self._texts = {k.lower(): v for k, v in raw.items()}
            self._default = self._texts.get(default_language.lower()) or next(iter(self._texts.values()))
        self._cache: dict[str, str] = {}

    def resolve(self, language: str | None = None) -> str:
        if self._texts is None or not language:
            return self._default
        hit = self._cache.get(language)
        if hit is None:
            tag = language.lower().replace("_", "-")
            hit = self._texts.get(tag) or self._texts.get(tag.split("-", 1)[0]) or self._default
            if len(self._cache) < 64:  # language tags come from a short settings list
                self._cache[language] = hit
        return hit

    def __str__(self) -> str:
        return self._default


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: LocalText


class Param:
    """One compiled parameter. ``clean(raw, context, cleaned)`` returns the cleaned value,
    or ``MISSING`` for an empty input, or raises ``_Invalid``."""

    __slots__ = (
        "allowed",
        "choices",
        "choices_from",
        "choices_map",
        "clean",
        "default",
        "default_for",
        "dependents",
        "depends_on",
        "help",
        "index",
        "label",
        "max",
        "max_length",
        "min",
        "min_length",
        "multiline",
        "must_be_true",
        "name",
        "path",
        "placeholder",
        "raw",
        "regex",
        "regex_message",
        "required",
        "section",
        "type",
        "visible",
    )

    def __init__(
        self, raw: Mapping[str, Any], *, section: str, index: int, path: PathParts, lang: str
    ) -> None:
        self.raw = raw
        self.name: str = raw["name"]
        self.type: str = raw["type"]
        self.section = section
        self.index = index
        self.path = path
        self.label = LocalText(raw["label"], lang)
        self.help = LocalText(raw["help"], lang) if "help" in raw else None
        self.placeholder = LocalText(raw["placeholder"], lang) if "placeholder" in raw else None
        self.required: bool = bool(raw.get("required", False))
        self.must_be_true = self.type == "boolean" and self.required
        self.min: int | None = raw.get("min")
        self.max: int | None = raw.get("max")
        self.min_length: int | None = raw.get("min_length")
        self.max_length: int | None = raw.get("max_length")
        self.multiline: bool = bool(raw.get("multiline", False))
        self.regex: re.Pattern | None = None
        self.regex_message = LocalText(raw["regex_message"], lang) if "regex_message" in raw else None
        self.allowed: frozenset | None = None
        self.choices: tuple[Choice, ...] = ()
        self.choices_from: str | None = None
        self.choices_map: dict[Any, tuple[Choice, ...]] = {}
        self.default: Any = False if self.type == "boolean" else MISSING
        self.default_for: Callable[[Context, dict], Any] | None = None
        self.visible: Callable[[dict], bool] | None = None
        self.depends_on: tuple[str, ...] = ()
        self.dependents: tuple[str, ...] = ()
        self.clean: Callable[[Any, Context, dict], Any] = _never

    @property
    def is_secret(self) -> bool:
        return self.type == "secret"

    def choices_for(self, cleaned: Mapping[str, Any]) -> tuple[Choice, ...]:
        """The choices on offer given the other parameters' values."""
        if self.choices_from is None:
            return self.choices
        return self.choices_map.get(cleaned.get(self.choices_from, MISSING), ())

    def all_choice_values(self) -> frozenset[str]:
        if self.choices_from is None:
            return frozenset(c.value for c in self.choices)
        return frozenset(c.value for cs in self.choices_map.values() for c in cs)

    def __repr__(self) -> str:
        return f"<Param {self.name}: {self.type}>"


def _never(raw, ctx, cleaned):  # replaced at compile time
    raise _Invalid("This parameter is not usable.")


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    label: LocalText
    description: LocalText | None
    params: tuple[Param, ...]


@dataclass(frozen=True)
class FieldState:
    """What the deploy form shows for one parameter, given the values so far."""

    name: str
    type: str
    label: str
    help: str
    placeholder: str
    required: bool
    visible: bool
    value: Any  # never a secret
    choices: tuple[tuple[str, str], ...]
    min: int | None
    max: int | None
    min_length: int | None
    max_length: int | None
    multiline: bool
    errors: tuple[str, ...]
    refresh: bool  # other fields depend on this one: re-render the form when it changes


@dataclass(frozen=True)
class SectionState:
    name: str
    label: str
    description: str
    fields: tuple[FieldState, ...]

    @property
    def visible_fields(self) -> tuple[FieldState, ...]:
        return tuple(f for f in self.fields if f.visible)


class Definition:
    """A compiled parameter definition. Build with ``compile_definition``."""

    def __init__(
        self, sections: tuple[Section, ...], params: dict[str, Param], order: tuple[Param, ...], lang: str
    ):
        self.sections = sections
        self.params = params
        self.default_language = lang
        self._order = order
        self._names = frozenset(params)
        self.secret_names = frozenset(n for n, p in params.items() if p.type == "secret")

    def __repr__(self) -> str:
        return f"<Definition {len(self.params)} parameters in {len(self.sections)} sections>"

    def __len__(self) -> int:
        return len(self.params)

    @property
    def names(self) -> frozenset[str]:
        return self._names

    def first_of_type(self, type_: str) -> Param | None:
        return next((p for p in self.params.values() if p.type == type_), None)

    def of_type(self, type_: str) -> list[Param]:
        return [p for p in self.params.values() if p.type == type_]

    def validate(
        self, values: Mapping[str, Any], context: Context | None = None, *, ignore_unknown: bool = False
    ) -> dict[str, Any]:
        """Clean ``values`` (JSON from the API or text from a form) or raise
        ``ParameterValidationError`` naming every parameter with a problem.

        Missing values take the default; hidden parameters are skipped and dropped; keys that
        name no parameter are errors unless ``ignore_unknown`` (forms post other fields too).
        """
        if not isinstance(values, Mapping):
            raise ParameterValidationError(
                {NON_FIELD: ["Parameters must be an object of name: value pairs."]}
            )
        ctx = _NO_CONTEXT if context is None else context
        cleaned: dict[str, Any] = {}
        errors: dict[str, list[str]] | None = None
        get = values.get
        for p in self._order:
            visible = p.visible
            if visible is not None and not visible(cleaned):
                continue
            raw = get(p.name, MISSING)
            if raw is MISSING or raw is None:
                value = MISSING
            else:
                try:
                    value = p.clean(raw, ctx, cleaned)
                except _Invalid as exc:
                    if errors is None:
                        errors = {}
                    errors[p.name] = [exc.message]
                    continue
            if value is MISSING:
                value = p.default if p.default_for is None else p.default_for(ctx, cleaned)
                if value is MISSING:
                    if p.required:
                        if errors is None:
                            errors = {}
                        errors[p.name] = ["This field is required."]
                    continue
            if p.must_be_true and value is not True:
                if errors is None:
                    errors = {}
                errors[p.name] = ["This must be checked to continue."]
                continue
            cleaned[p.name] = value
        if not ignore_unknown and not self._names.issuperset(values):
            if errors is None:
                errors = {}
            for key in values:
                if key not in self._names:
                    errors[str(key)[:100]] = ["Unknown parameter."]
        if errors:
            raise ParameterValidationError(errors)
        return cleaned

    def form_state(
        self,
        values: Mapping[str, Any] | None = None,
        context: Context | None = None,
        *,
        errors: Mapping[str, list[str]] | None = None,
        language: str | None = None,
    ) -> list[SectionState]:
        """The deploy form for ``values`` so far: which fields are visible, what each offers
        and shows, with ``errors`` (from a ``ParameterValidationError``) beside each field.

        Lenient: an invalid value stays in its field as typed and simply does not make its
        dependents visible. Secrets are never echoed."""
        ctx = _NO_CONTEXT if context is None else context
        lang = language or ctx.language or self.default_language
        values = values or {}
        cleaned: dict[str, Any] = {}
        shown: dict[str, Any] = {}
        visible_names: set[str] = set()
        for p in self._order:
            if p.visible is not None and not p.visible(cleaned):
                continue
            visible_names.add(p.name)
            raw = values.get(p.name, MISSING)
            value = MISSING
            if raw is not MISSING and raw is not None:
                try:
                    value = p.clean(raw, ctx, cleaned)
                except _Invalid:
                    shown[p.name] = raw if isinstance(raw, str | int | bool) else ""
                    continue
            if value is MISSING:
                value = p.default if p.default_for is None else p.default_for(ctx, cleaned)
            if value is not MISSING:
                cleaned[p.name] = value
                shown[p.name] = value
        errors = errors or {}
        out = []
        for section in self.sections:
            fields = []
            for p in section.params:
                if p.type == "vm_size":
                    choices = ctx.size_choices
                elif p.type == "tenant_network":
                    choices = ctx.network_choices
                else:
                    choices = tuple((c.value, c.label.resolve(lang)) for c in p.choices_for(cleaned))
                value = "" if p.type == "secret" else shown.get(p.name, "")
                fields.append(
                    FieldState(
                        name=p.name,
                        type=p.type,
                        label=p.label.resolve(lang),
                        help=p.help.resolve(lang) if p.help else "",
                        placeholder=p.placeholder.resolve(lang) if p.placeholder else "",
                        required=p.required,
                        visible=p.name in visible_names,
                        value=value,
                        choices=choices,
                        min=p.min,
                        max=p.max,
                        min_length=p.min_length,
                        max_length=p.max_length,
                        multiline=p.multiline,
                        errors=tuple(errors.get(p.name, ())),
                        refresh=bool(p.dependents),
                    )
                )
            out.append(
                SectionState(
                    name=section.name,
                    label=section.label.resolve(lang),
                    description=section.description.resolve(lang) if section.description else "",
                    fields=tuple(fields),
                )
            )
        return out

    def sample_values(self) -> dict[str, Any]:
        """Plausible values for every parameter (defaults first), for definition-time
        rendering checks of templates. Not guaranteed to validate."""
        samples = {
            "string": "sample",
            "integer": 1,
            "boolean": False,
            "secret": Secret("sample-secret"),
            "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBSm4qmPyfs7ILYsHkzrb7b5vNcWNr+Z9lXB+QZGqIRR sample",
            "vm_size": "small",
            "tenant_network": "network",
            "hostname_prefix": "host",
        }
        out: dict[str, Any] = {}
        for p in self.params.values():
            if p.default is not MISSING:
                out[p.name] = p.default
            elif p.type == "choice":
                values = sorted(p.all_choice_values())
                out[p.name] = values[0] if values else "choice"
            elif p.type == "integer":
                out[p.name] = p.min if p.min is not None else 1
            else:
                out[p.name] = samples[p.type]
        return out


def compile_definition(raw: Any, *, default_language: str = "en", check_schema: bool = True) -> Definition:
    """Parse and check a parameter definition, or raise ``DefinitionError`` with every problem.

    ``check_schema=False`` skips the JSON Schema pass when the caller already ran it (the
    package importer validates the whole package at once)."""
    if check_schema:
        from gallery.schema import schema_problems

        problems = schema_problems(raw, definition="parameterDefinition")
        if problems:
            raise DefinitionError(problems)
    from gallery.compiler import Compiler

    return Compiler(raw, default_language).run()
