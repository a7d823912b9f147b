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
specialised closure at compile time and ``validate`` allocates little beyond its result.
"""

from __future__ import annotations

import base64
import binascii
import heapq
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

# Attributes each type accepts beyond the common ones; anything else is a definition error.
_COMMON_ATTRS = frozenset({"name", "type", "label", "help", "required", "visible_if"})
_TYPE_ATTRS: dict[str, frozenset[str]] = {
    "string": frozenset(
        {"regex", "regex_message", "min_length", "max_length", "allowed", "multiline", "placeholder", "default"}
    ),
    "integer": frozenset({"min", "max", "allowed", "placeholder", "default"}),
    "boolean": frozenset({"default"}),
    "choice": frozenset({"choices", "choices_from", "default"}),
    "secret": frozenset({"regex", "regex_message", "min_length", "max_length", "multiline", "placeholder"}),
    "ssh_public_key": frozenset({"regex", "regex_message", "placeholder"}),
    "vm_size": frozenset({"default"}),
    "tenant_network": frozenset(),
    "hostname_prefix": frozenset(
        {"regex", "regex_message", "min_length", "max_length", "allowed", "placeholder", "default"}
    ),
}
# Why some types take no default: a secret's default would ship in every package, and
# networks belong to tenants, so no package can name one.
_NO_DEFAULT_REASON = {
    "secret": "a secret cannot have a default: it would travel in every package",
    "tenant_network": "networks belong to tenants, so a tenant_network parameter cannot have a default",
    "ssh_public_key": "an SSH key parameter cannot have a default: each deployer brings their own key",
}
# Types another parameter may depend on (visible_if, choices_from). Secrets would leak
# through the form's behaviour; networks and keys are per tenant and per person.
_SOURCE_TYPES = frozenset({"string", "integer", "boolean", "choice", "vm_size", "hostname_prefix"})

# Intrinsic length limits, so an unbounded definition still bounds work and payload size.
_MAX_TEXT = {"string": 4096, "secret": 4096, "hostname_prefix": 40, "ssh_public_key": 16384}
_MAX_CONDITION_DEPTH = 8

# Line separators (NEL, U+2028/9) count as line breaks to YAML 1.1, so single-line text refuses
# them too; lone surrogates could not be encoded into the UTF-8 payload at all.
_SINGLE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Multi-line text keeps tabs and newlines (after CRLF → LF); other controls are refused.
_MULTI_LINE_BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,18}")
_HOSTNAME_PREFIX = re.compile(r"[a-z](?:[a-z0-9-]*[a-z0-9])?")
_NAME_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_SSH_KEY = re.compile(
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521"
    r"|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)"
    r" ([A-Za-z0-9+/]+={0,2})(?: [^\x00-\x1f\x7f]{0,1024})?"
)
_TRUE_TEXT = frozenset({"true", "on", "yes", "1"})
_FALSE_TEXT = frozenset({"false", "off", "no", "0"})

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


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


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

    def __init__(self, raw: Mapping[str, Any], *, section: str, index: int, path: PathParts, lang: str) -> None:
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

    def __init__(self, sections: tuple[Section, ...], params: dict[str, Param], order: tuple[Param, ...], lang: str):
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
            raise ParameterValidationError({NON_FIELD: ["Parameters must be an object of name: value pairs."]})
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


# --- compiling ----------------------------------------------------------------------------------


def compile_definition(raw: Any, *, default_language: str = "en", check_schema: bool = True) -> Definition:
    """Parse and check a parameter definition, or raise ``DefinitionError`` with every problem.

    ``check_schema=False`` skips the JSON Schema pass when the caller already ran it (the
    package importer validates the whole package at once)."""
    if check_schema:
        from gallery.schema import schema_problems

        problems = schema_problems(raw, definition="parameterDefinition")
        if problems:
            raise DefinitionError(problems)
    return _Compiler(raw, default_language).run()


class _Compiler:
    def __init__(self, raw: Mapping[str, Any], lang: str) -> None:
        self.raw = raw
        self.lang = lang
        self.problems: list[tuple[PathParts, str]] = []
        self.params: dict[str, Param] = {}

    def problem(self, path: PathParts, message: str) -> None:
        self.problems.append((path, message))

    def run(self) -> Definition:
        if not _LANGUAGE.fullmatch(self.lang or ""):
            self.problem(("default_language",), f"{self.lang!r} is not a language tag like en or de-CH")
        sections = self._sections()
        for p in self.params.values():
            self._build_cleaner(p)
        for p in self.params.values():
            self._choices_from(p)
        for p in self.params.values():
            self._check_map_keys(p)
        for p in self.params.values():
            if "visible_if" in p.raw:
                deps: set[str] = set()
                p.visible = self._condition(p.raw["visible_if"], (*p.path, "visible_if"), p, deps, 0)
                p.depends_on = tuple(sorted(deps | set(p.depends_on)))
        order = self._order()
        for p in self.params.values():
            self._default(p)
        if self.problems:
            from gallery.schema import path_sort_key

            raise DefinitionError(sorted(self.problems, key=lambda pm: (path_sort_key(pm[0]), pm[1])))
        dependents: dict[str, list[str]] = {}
        for p in self.params.values():
            for dep in p.depends_on:
                dependents.setdefault(dep, []).append(p.name)
        for name, names in dependents.items():
            self.params[name].dependents = tuple(names)
        return Definition(sections, self.params, order, self.lang)

    # sections, names, attributes

    def _text(self, raw: Any, path: PathParts) -> LocalText:
        if isinstance(raw, Mapping) and self.lang.lower() not in {k.lower() for k in raw}:
            self.problem(path, f"has no text in the default language {self.lang!r}")
        return LocalText(raw, self.lang)

    def _sections(self) -> tuple[Section, ...]:
        sections = []
        section_names: dict[str, PathParts] = {}
        for si, raw_section in enumerate(self.raw.get("sections", [])):
            spath: PathParts = ("sections", si)
            name = raw_section["name"]
            if name in section_names:
                self.problem((*spath, "name"), f"duplicate section name {name!r}")
            section_names[name] = spath
            label = self._text(raw_section["label"], (*spath, "label"))
            description = (
                self._text(raw_section["description"], (*spath, "description"))
                if "description" in raw_section
                else None
            )
            params = []
            for pi, raw_param in enumerate(raw_section.get("parameters", [])):
                ppath: PathParts = (*spath, "parameters", pi)
                param = Param(raw_param, section=name, index=len(self.params) + len(params), path=ppath, lang=self.lang)
                self._check_param(param)
                if param.name in self.params or any(q.name == param.name for q in params):
                    self.problem((*ppath, "name"), f"duplicate parameter name {param.name!r}")
                    continue
                params.append(param)
            for param in params:
                self.params[param.name] = param
            sections.append(Section(name, label, description, tuple(params)))
        return tuple(sections)

    def _check_param(self, p: Param) -> None:
        raw, path = p.raw, p.path
        allowed_attrs = _COMMON_ATTRS | _TYPE_ATTRS[p.type]
        for key in raw:
            if key not in allowed_attrs:
                if key == "default" and p.type in _NO_DEFAULT_REASON:
                    self.problem((*path, key), _NO_DEFAULT_REASON[p.type])
                else:
                    self.problem((*path, key), f"does not apply to {_a(p.type)} parameter")
        for key in ("label", "help", "placeholder", "regex_message"):
            if key in raw:
                self._text(raw[key], (*path, key))
        if "regex" in raw and "regex" in allowed_attrs:
            try:
                p.regex = re.compile(raw["regex"])
            except re.error as exc:
                self.problem((*path, "regex"), f"is not a valid regular expression: {exc}")
        if "regex_message" in raw and "regex" not in raw:
            self.problem((*path, "regex_message"), "needs a regex to go with it")
        if p.min is not None and p.max is not None and p.min > p.max:
            self.problem((*path, "min"), f"min ({p.min}) is greater than max ({p.max})")
        if p.min_length is not None and p.max_length is not None and p.min_length > p.max_length:
            self.problem((*path, "min_length"), f"min_length ({p.min_length}) is greater than max_length ({p.max_length})")
        limit = _MAX_TEXT.get(p.type)
        if limit is not None and p.max_length is not None and p.max_length > limit and p.type != "string":
            self.problem((*path, "max_length"), f"{_a(p.type)} is at most {limit} characters long")
        if p.type == "choice":
            has_static, has_dynamic = "choices" in raw, "choices_from" in raw
            if has_static == has_dynamic:
                self.problem(path, "a choice parameter needs exactly one of choices and choices_from")
            if has_static:
                p.choices = self._choices(raw["choices"], (*path, "choices"))
        if "allowed" in raw and "allowed" in allowed_attrs:
            want = int if p.type == "integer" else str
            bad = [i for i, v in enumerate(raw["allowed"]) if type(v) is not want]
            for i in bad:
                self.problem((*path, "allowed", i), f"must be {'a whole number' if want is int else 'text'}")
            if not bad:
                p.allowed = frozenset(raw["allowed"])
        if p.type == "boolean" and p.required and raw.get("default") is True:
            # A required boolean means "must be ticked"; defaulting it to ticked hides the question.
            self.problem((*path, "default"), "a required boolean must be ticked by the deployer; drop the default")

    def _choices(self, raw_list: list, path: PathParts) -> tuple[Choice, ...]:
        out, seen = [], set()
        for i, raw in enumerate(raw_list):
            value, label = (raw, raw) if isinstance(raw, str) else (raw["value"], raw.get("label", raw["value"]))
            if value in seen:
                self.problem((*path, i), f"duplicate choice {value!r}")
                continue
            if "label" in (raw if isinstance(raw, Mapping) else {}):
                self._text(raw["label"], (*path, i, "label"))
            seen.add(value)
            out.append(Choice(value, LocalText(label, self.lang)))
        return tuple(out)

    # dependencies

    def _source(self, p: Param, name: str, path: PathParts, what: str) -> Param | None:
        source = self.params.get(name)
        if source is None:
            self.problem(path, f"{what} refers to {name!r}, which is not a parameter of this definition")
            return None
        if source is p:
            self.problem(path, f"{what} of {p.name!r} refers to itself")
            return None
        if source.type not in _SOURCE_TYPES:
            self.problem(
                path, f"{what} cannot depend on {name!r}: {_a(source.type)} parameter cannot drive other fields"
            )
            return None
        return source

    def _static_clean(self, source: Param, raw: Any) -> Any:
        """Clean a value of ``source`` without a context: for defaults, conditions and map
        keys. Raises ``_Invalid``."""
        if source.type == "choice" and source.choices_from is not None:
            if not isinstance(raw, str) or raw not in source.all_choice_values():
                raise _Invalid(f"{raw!r} is not one of the choices of {source.name!r}")
            return raw
        value = source.clean(raw, _NO_CONTEXT, {})
        if value is MISSING:
            raise _Invalid(f"an empty value is not a value of {source.name!r}")
        return value

    def _choices_from(self, p: Param) -> None:
        spec = p.raw.get("choices_from")
        if spec is None or p.type != "choice":
            return
        path = (*p.path, "choices_from")
        p.choices_from = spec["param"]
        source = self._source(p, spec["param"], (*path, "param"), "choices_from")
        p.depends_on = (spec["param"],)
        if source is None:
            return
        for key, raw_list in spec["map"].items():
            choices = self._choices(raw_list, (*path, "map", key))
            if source.type == "choice":
                # Choice values are text, so the key is the value; whether the source can
                # take it is checked once every choices_from map is known (_check_map_keys).
                p.choices_map[key] = choices
                continue
            try:
                cleaned_key = self._static_clean(source, key)
            except _Invalid as exc:
                self.problem((*path, "map", key), f"is not a value {source.name!r} can take ({exc.message})")
                continue
            p.choices_map[cleaned_key] = choices

    def _check_map_keys(self, p: Param) -> None:
        """Map keys must be values the source can take, and a source with a finite set of
        values must map every one of them, or the form would offer an empty list."""
        source = self.params.get(p.choices_from or "")
        if source is None or source is p or source.type not in ("choice", "boolean"):
            return
        path = (*p.path, "choices_from", "map")
        domain = [True, False] if source.type == "boolean" else sorted(source.all_choice_values())
        if source.type == "choice":
            for key in p.choices_map:
                if key not in domain:
                    self.problem((*path, key), f"{key!r} is not one of the choices of {source.name!r}")
        for value in domain:
            if value not in p.choices_map:
                shown = "true" if value is True else "false" if value is False else value
                self.problem(path, f"has no choices for {source.name} = {shown!r}")

    def _condition(self, cond: Mapping[str, Any], path: PathParts, p: Param, deps: set[str], depth: int):
        if depth > _MAX_CONDITION_DEPTH:
            self.problem(path, f"conditions nest deeper than {_MAX_CONDITION_DEPTH} levels")
            return None
        keys = frozenset(cond)
        if keys in (frozenset({"param", "equals"}), frozenset({"param", "in"})):
            name = cond["param"]
            source = self._source(p, name, (*path, "param"), "visible_if")
            deps.add(name)
            if source is None:
                return None
            wanted = [cond["equals"]] if "equals" in cond else list(cond["in"])
            cleaned = []
            for i, raw in enumerate(wanted):
                try:
                    cleaned.append(self._static_clean(source, raw))
                except _Invalid as exc:
                    where = (*path, "equals") if "equals" in cond else (*path, "in", i)
                    self.problem(where, f"{name!r} can never be {raw!r}: {exc.message}")
            if "equals" in cond:
                expected = cleaned[0] if cleaned else MISSING
                return lambda values: values.get(name, MISSING) == expected
            options = frozenset(cleaned)
            return lambda values: values.get(name, MISSING) in options
        if keys in (frozenset({"all"}), frozenset({"any"})):
            kind = next(iter(keys))
            subs = [self._condition(c, (*path, kind, i), p, deps, depth + 1) for i, c in enumerate(cond[kind])]
            if any(s is None for s in subs):
                return None
            subs_t = tuple(subs)
            if kind == "all":
                return lambda values: all(s(values) for s in subs_t)
            return lambda values: any(s(values) for s in subs_t)
        if keys == frozenset({"not"}):
            inner = self._condition(cond["not"], (*path, "not"), p, deps, depth + 1)
            return None if inner is None else (lambda values: not inner(values))
        self.problem(
            path,
            "a condition is one of {param, equals}, {param, in}, {all: [...]}, {any: [...]}, {not: ...}; "
            f"got keys {sorted(keys)}",
        )
        return None

    def _order(self) -> tuple[Param, ...]:
        """Declaration order, except that every parameter follows those it depends on.
        Reports each dependency cycle once, at the visible_if / choices_from that closes it."""
        params = self.params
        graph = {n: [d for d in p.depends_on if d in params] for n, p in params.items()}
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        reported: set[frozenset[str]] = set()
        for start in params:
            if state.get(start):
                continue
            stack: list[tuple[str, int]] = [(start, 0)]
            trail: list[str] = [start]
            state[start] = 1
            while stack:
                node, i = stack[-1]
                if i < len(graph[node]):
                    stack[-1] = (node, i + 1)
                    nxt = graph[node][i]
                    if state.get(nxt) == 1:
                        cycle = [*trail[trail.index(nxt) :], nxt]
                        if frozenset(cycle) not in reported:
                            reported.add(frozenset(cycle))
                            p = params[node]
                            attr = "visible_if" if "visible_if" in p.raw else "choices_from"
                            self.problem((*p.path, attr), "dependency cycle: " + " → ".join(cycle))
                    elif not state.get(nxt):
                        state[nxt] = 1
                        stack.append((nxt, 0))
                        trail.append(nxt)
                else:
                    state[node] = 2
                    stack.pop()
                    trail.pop()
        if reported:
            return tuple(params.values())
        # Kahn's algorithm, always taking the earliest-declared ready parameter.
        waiting = {n: len(set(graph[n])) for n in params}
        users: dict[str, list[str]] = {}
        for n, deps in graph.items():
            for d in set(deps):
                users.setdefault(d, []).append(n)
        ready = [(p.index, n) for n, p in params.items() if waiting[n] == 0]
        heapq.heapify(ready)
        out = []
        while ready:
            _, n = heapq.heappop(ready)
            out.append(params[n])
            for u in users.get(n, ()):
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, (params[u].index, u))
        return tuple(out)

    def _default(self, p: Param) -> None:
        if "default" not in p.raw or p.type in _NO_DEFAULT_REASON:
            return
        raw = p.raw["default"]
        try:
            value = self._static_clean(p, raw)
        except _Invalid as exc:
            self.problem((*p.path, "default"), f"the default {raw!r} does not validate: {exc.message}")
            return
        p.default = value
        if p.choices_from is not None:
            source = p.choices_from

            # A dependent choice's default applies only while it is among the current choices.
            def default_for(ctx: Context, cleaned: dict, p=p, value=value, source=source) -> Any:
                current = p.choices_map.get(cleaned.get(source, MISSING), ())
                return value if any(c.value == value for c in current) else MISSING

            p.default_for = default_for
        elif p.type == "vm_size":
            # The default size applies only where the plan offers it.
            def default_for(ctx: Context, cleaned: dict, value=value) -> Any:
                return value if ctx.vm_sizes is None or value in ctx.vm_sizes else MISSING

            p.default_for = default_for

    # cleaners: one closure per parameter, holding only the checks it needs

    def _build_cleaner(self, p: Param) -> None:
        builder = getattr(self, f"_clean_{p.type}")
        p.clean = builder(p)

    def _text_checks(self, p: Param, what: str):
        """Length, regex and allowed-values checks shared by the text types."""
        min_len = p.min_length
        max_len = p.max_length if p.max_length is not None else _MAX_TEXT[p.type]
        regex = p.regex
        regex_message = p.regex_message
        allowed = p.allowed

        def check(v: str, ctx: Context) -> None:
            n = len(v)
            if min_len is not None and n < min_len:
                raise _Invalid(f"Enter at least {min_len} characters (it has {n}).")
            if n > max_len:
                raise _Invalid(f"Enter at most {max_len} characters (it has {n}).")
            if regex is not None and regex.fullmatch(v) is None:
                raise _Invalid(
                    regex_message.resolve(ctx.language) if regex_message else f"Enter {what} in the expected format."
                )
            if allowed is not None and v not in allowed:
                raise _Invalid("Enter one of: " + ", ".join(sorted(map(str, allowed))[:10]) + ".")

        return check

    def _clean_string(self, p: Param):
        check = self._text_checks(p, "a value")
        bad = _MULTI_LINE_BAD if p.multiline else _SINGLE_LINE_BAD
        multiline = p.multiline

        def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
            if not isinstance(raw, str):
                raise _Invalid("Enter text.")
            v = raw.strip()
            if multiline and "\r" in v:
                v = v.replace("\r\n", "\n")
            if not v:
                return MISSING
            if bad.search(v) is not None:
                raise _Invalid("Remove control characters" + ("." if multiline else " and line breaks."))
            check(v, ctx)
            return v

        return clean

    def _clean_secret(self, p: Param):
        check = self._text_checks(p, "a value")
        bad = _MULTI_LINE_BAD if p.multiline else _SINGLE_LINE_BAD
        multiline = p.multiline

        def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
            # Never echo any part of a secret in a message.
            if not isinstance(raw, str):
                raise _Invalid("Enter text.")
            v = raw.replace("\r\n", "\n") if multiline else raw
            if not v:
                return MISSING
            if bad.search(v) is not None:
                raise _Invalid("Remove control characters" + ("." if multiline else " and line breaks."))
            check(v, ctx)
            return Secret(v)

        return clean

    def _clean_hostname_prefix(self, p: Param):
        check = self._text_checks(p, "a host name prefix")

        def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
            if not isinstance(raw, str):
                raise _Invalid("Enter text.")
            v = raw.strip().lower()
            if not v:
                return MISSING
            if len(v) > 40 or _HOSTNAME_PREFIX.fullmatch(v) is None:
                raise _Invalid(
                    "Use up to 40 letters, digits and hyphens, starting with a letter and not ending with a hyphen."
                )
            check(v, ctx)
            return v

        return clean

    def _clean_ssh_public_key(self, p: Param):
        check = self._text_checks(p, "a key")

        def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
            if not isinstance(raw, str):
                raise _Invalid("Paste an OpenSSH public key.")
            v = raw.strip()
            if not v:
                return MISSING
            match = _SSH_KEY.fullmatch(v) if len(v) <= 16384 else None
            if match is None:
                raise _Invalid("Paste one OpenSSH public key on one line, e.g. ssh-ed25519 AAAA… you@host.")
            try:
                blob = base64.b64decode(match[2], validate=True)
            except (binascii.Error, ValueError):
                raise _Invalid("The key's base64 part is damaged.") from None
            kind = match[1].encode()
            # The blob starts with the key type again, length-prefixed: a cheap integrity check.
            if len(blob) < 4 + len(kind) or blob[4 : 4 + len(kind)] != kind or int.from_bytes(blob[:4], "big") != len(kind):
                raise _Invalid("The key's type does not match its contents.")
            check(v, ctx)
            return v

        return clean

    def _clean_integer(self, p: Param):
        low, high, allowed = p.min, p.max, p.allowed

        def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
            t = type(raw)
            if t is int:
                v = raw
            elif t is str:
                s = raw.strip()
                if not s:
                    return MISSING
                if _INT_TEXT.fullmatch(s) is None:
                    raise _Invalid("Enter a whole number.")
                v = int(s)
            elif t is float and raw.is_integer() and abs(raw) < 1e18:
                v = int(raw)
            else:
                raise _Invalid("Enter a whole number.")
            if low is not None and v < low:
                raise _Invalid(f"Enter {low} or more.")
            if high is not None and v > high:
                raise _Invalid(f"Enter {high} or less.")
            if allowed is not None and v not in allowed:
                raise _Invalid("Enter one of: " + ", ".join(map(str, sorted(allowed)[:10])) + ".")
            return v

        return clean

    def _clean_boolean(self, p: Param):
        def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
            if raw is True or raw is False:
                return raw
            if isinstance(raw, str):
                s = raw.strip().lower()
                if not s:
                    return MISSING
                if s in _TRUE_TEXT:
                    return True
                if s in _FALSE_TEXT:
                    return False
            elif type(raw) is int and raw in (0, 1):
                return raw == 1
            raise _Invalid("Choose yes or no.")

        return clean

    def _clean_choice(self, p: Param):
        if "choices_from" in p.raw:
            source = p.raw["choices_from"]["param"]
            choices_map = p.choices_map  # filled in later; the closure sees the same dict
            value_sets: dict[Any, frozenset[str]] = {}

            def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
                if not isinstance(raw, str):
                    raise _Invalid("Select one of the options.")
                if not raw:
                    return MISSING
                key = cleaned.get(source, MISSING)
                options = value_sets.get(key)
                if options is None:
                    current = choices_map.get(key)
                    if current is None:
                        raise _Invalid("No options are available for the current selection above.")
                    options = value_sets[key] = frozenset(c.value for c in current)
                if raw not in options:
                    raise _Invalid("Select one of the options offered.")
                return raw

            return clean
        values = frozenset(c.value for c in p.choices)

        def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
            if not isinstance(raw, str):
                raise _Invalid("Select one of the options.")
            if not raw:
                return MISSING
            if raw not in values:
                raise _Invalid("Select one of the options offered.")
            return raw

        return clean

    def _clean_vm_size(self, p: Param):
        def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
            if not isinstance(raw, str):
                raise _Invalid("Select a size.")
            v = raw.strip()
            if not v:
                return MISSING
            sizes = ctx.vm_sizes
            if sizes is None:
                if _NAME_LIKE.fullmatch(v) is None:
                    raise _Invalid("Select a size.")
            elif v not in sizes:
                raise _Invalid("Select one of the sizes offered." if sizes else "No sizes are offered to you here.")
            return v

        return clean

    def _clean_tenant_network(self, p: Param):
        def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
            if not isinstance(raw, str):
                raise _Invalid("Select a network.")
            v = raw.strip()
            if not v:
                return MISSING
            networks = ctx.networks
            if networks is None:
                if _NAME_LIKE.fullmatch(v) is None:
                    raise _Invalid("Select a network.")
            elif v not in networks:
                raise _Invalid("Select one of your networks." if networks else "You have no networks yet.")
            return v

        return clean
