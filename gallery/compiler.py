"""Compiling parameter definitions: the definition-time checks and the per-type cleaners.

``gallery.parameters.compile_definition`` is the entry point; this module turns a (schema-valid)
definition into ``Param`` objects with one specialised cleaning closure each, compiled
``visible_if`` conditions, ``choices_from`` maps and a dependency-respecting evaluation order,
collecting every problem (with its path) before raising ``DefinitionError``.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import re
from collections.abc import Mapping
from typing import Any

from gallery.parameters import (
    MISSING,
    Choice,
    Context,
    Definition,
    DefinitionError,
    LocalText,
    Param,
    PathParts,
    Secret,
    Section,
    _Invalid,
)

_NO_CONTEXT = Context()


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


# Attributes each type accepts beyond the common ones; anything else is a definition error.
_COMMON_ATTRS = frozenset({"name", "type", "label", "help", "required", "visible_if"})
_TYPE_ATTRS: dict[str, frozenset[str]] = {
    "string": frozenset(
        {
            "regex",
            "regex_message",
            "min_length",
            "max_length",
            "allowed",
            "multiline",
            "placeholder",
            "default",
        }
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
    r" ([A-Za-z0-9+/]+={0,2})(?: [^\x00-\x1f\x7f-\x9f\u2028\u2029]{0,1024})?"
)
_TRUE_TEXT = frozenset({"true", "on", "yes", "1"})
_FALSE_TEXT = frozenset({"false", "off", "no", "0"})


class Compiler:
    """One compilation: ``Compiler(raw, default_language).run()`` → ``Definition``."""

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
                param = Param(
                    raw_param, section=name, index=len(self.params) + len(params), path=ppath, lang=self.lang
                )
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
            self.problem(
                (*path, "min_length"),
                f"min_length ({p.min_length}) is greater than max_length ({p.max_length})",
            )
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
            self.problem(
                (*path, "default"), "a required boolean must be ticked by the deployer; drop the default"
            )

    def _choices(self, raw_list: list, path: PathParts) -> tuple[Choice, ...]:
        out, seen = [], set()
        for i, raw in enumerate(raw_list):
            value, label = (
                (raw, raw) if isinstance(raw, str) else (raw["value"], raw.get("label", raw["value"]))
            )
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
                path,
                f"{what} cannot depend on {name!r}: {_a(source.type)} parameter cannot drive other fields",
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
        if source is None:
            return
        p.depends_on = (spec["param"],)
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
            if source is None:
                return None
            deps.add(name)
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
            subs = [
                self._condition(c, (*path, kind, i), p, deps, depth + 1) for i, c in enumerate(cond[kind])
            ]
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
                    regex_message.resolve(ctx.language)
                    if regex_message
                    else f"Enter {what} in the expected format."
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
            if (
                len(blob) < 4 + len(kind)
                or blob[4 : 4 + len(kind)] != kind
                or int.from_bytes(blob[:4], "big") != len(kind)
            ):
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
        return _context_name_cleaner(
            lambda ctx: ctx.vm_sizes,
            pick="Select a size.",
            not_offered="Select one of the sizes offered.",
            none_offered="No sizes are offered to you here.",
        )

    def _clean_tenant_network(self, p: Param):
        return _context_name_cleaner(
            lambda ctx: ctx.networks,
            pick="Select a network.",
            not_offered="Select one of your networks.",
            none_offered="You have no networks yet.",
        )


def _context_name_cleaner(allowed_in, *, pick: str, not_offered: str, none_offered: str):
    """A cleaner for a name chosen from a list the request's context supplies (the VM sizes
    or tenant networks on offer). With no list in the context (a definition-time check), any
    name-like value passes."""

    def clean(raw: Any, ctx: Context, cleaned: dict) -> Any:
        if not isinstance(raw, str):
            raise _Invalid(pick)
        v = raw.strip()
        if not v:
            return MISSING
        allowed = allowed_in(ctx)
        if allowed is None:
            if _NAME_LIKE.fullmatch(v) is None:
                raise _Invalid(pick)
        elif v not in allowed:
            raise _Invalid(not_offered if allowed else none_offered)
        return v

    return clean
