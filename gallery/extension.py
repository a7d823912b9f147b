"""The resource extension: a cloud-init user-data template filled from cleaned parameters.

The template language is deliberately small and never evaluates code:

- ``{{ name }}`` inserts a value as it is. Only types whose values cannot break the
  surrounding YAML or shell are allowed raw (integer, boolean, choice, vm_size,
  tenant_network, hostname_prefix); free text must go through a filter.
- ``{{ name | yaml }}`` a YAML scalar (double-quoted, every special character escaped),
  ``{{ name | json }}`` a JSON value, ``{{ name | shell }}`` one POSIX shell word. Filters
  chain left to right: ``{{ name | shell | yaml }}`` is a shell word inside a YAML string.
- ``{{ if name }} … {{ else }} … {{ end }}`` (and ``if not``) keep a block when the
  parameter has a value (it is visible and set) that is not ``false``.
- ``{{ "{{" }}`` writes a literal ``{{``.

Unknown parameters, unknown filters, unbalanced blocks and (for ``#cloud-config``) YAML that
does not parse are definition-time errors. Secrets are revealed only into the rendered text,
which ``RenderedUserData`` keeps out of its repr; its ``redacted`` text is safe to log.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gallery.parameters import (
    MISSING,
    NON_FIELD,
    REDACTED,
    Definition,
    DefinitionError,
    ParameterValidationError,
    Secret,
)

MAX_TEMPLATE_CHARS = 65536
MAX_RENDERED_BYTES = 65536
# Values of these types cannot contain YAML or shell syntax (choices are the author's own).
SAFE_RAW_TYPES = frozenset({"integer", "boolean", "choice", "vm_size", "tenant_network", "hostname_prefix"})

_TAG = re.compile(r"\{\{([^\n]*?)\}\}")
_SUBSTITUTION = re.compile(r"\s*([a-z][a-z0-9_]*)\s*((?:\|\s*[a-z]+\s*)*)")
_LITERAL = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)')\s*""")
_BLOCK = re.compile(r"\s*(?:if\s+(?:not\s+)?[a-z][a-z0-9_]*|else|end)\s*")
_IF = re.compile(r"\s*if\s+(not\s+)?([a-z][a-z0-9_]*)\s*")
_YAML_SPECIAL = re.compile(r'["\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]')
_YAML_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _yaml_escape(match: re.Match) -> str:
    char = match[0]
    short = _YAML_SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _scalar(value: Any) -> Any:
    """Booleans and null the way YAML, JSON and shells write them."""
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value


def yaml_quote(value: Any) -> str:
    """A YAML 1.1/1.2 scalar that loads back as exactly ``value`` (text, integer, boolean
    or null): text is double-quoted with every special character escaped."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    return '"' + _YAML_SPECIAL.sub(_yaml_escape, str(value)) + '"'


def _json_filter(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


def _shell_filter(value: Any) -> str:
    value = _scalar(value)
    if value is None:
        return "''"
    return shlex.quote(str(value))


FILTERS: dict[str, Callable[[Any], str]] = {"yaml": yaml_quote, "json": _json_filter, "shell": _shell_filter}


@dataclass(frozen=True, slots=True)
class _Sub:
    name: str
    filters: tuple[Callable[[Any], str], ...]


@dataclass(slots=True)
class _If:
    name: str
    negate: bool
    then: list
    otherwise: list


class RenderedUserData:
    """A rendered payload. ``reveal()`` is the text for the guest (secrets included);
    ``redacted`` is the same text with every secret as ``********``; str and repr never show
    a secret."""

    __slots__ = ("_text", "redacted")

    def __init__(self, text: str, redacted: str) -> None:
        self._text = text
        self.redacted = redacted

    def reveal(self) -> str:
        return self._text

    def encode(self) -> bytes:
        return self._text.encode("utf-8")

    def __len__(self) -> int:
        return len(self._text)

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"<RenderedUserData {len(self._text)} characters, secrets redacted>"

    def __reduce__(self):
        raise TypeError("RenderedUserData is not picklable; pass reveal() explicitly if you must.")


class UserDataTemplate:
    """A compiled template. Build with ``UserDataTemplate.compile(text, definition)``."""

    def __init__(self, nodes: list, names: frozenset[str], text: str) -> None:
        self._nodes = nodes
        self.names = names  # the parameters the template uses
        self.text = text

    def __repr__(self) -> str:
        return f"<UserDataTemplate using {sorted(self.names)}>"

    @classmethod
    def compile(
        cls, text: str, definition: Definition, *, path: tuple = ("user_data",), check_yaml: bool = True
    ) -> UserDataTemplate:
        """Parse ``text`` against ``definition`` or raise ``DefinitionError`` listing every
        problem, each with its line and column."""
        problems: list[tuple[tuple, str]] = []

        def problem(offset: int, message: str) -> None:
            line = text.count("\n", 0, offset) + 1
            column = offset - (text.rfind("\n", 0, offset) + 1) + 1
            problems.append((path, f"line {line}, column {column}: {message}"))

        if len(text) > MAX_TEMPLATE_CHARS:
            raise DefinitionError([(path, f"is longer than {MAX_TEMPLATE_CHARS} characters")])
        root: list = []
        stack: list[tuple[_If, int, bool]] = []  # (block, offset, in else branch)
        names: set[str] = set()
        position = 0

        def current() -> list:
            if not stack:
                return root
            block, _, in_else = stack[-1]
            return block.otherwise if in_else else block.then

        def literal(chunk: str, offset: int) -> None:
            stray = chunk.find("{{")
            if stray != -1:
                problem(offset + stray, 'unclosed "{{" (write {{ "{{" }} for a literal one)')
            if chunk:
                current().append(chunk)

        for match in _TAG.finditer(text):
            inner = match[1]
            start, end = match.start(), match.end()
            if _BLOCK.fullmatch(inner):
                # A block tag alone on its line takes the whole line with it, so that
                # {{ if }} / {{ end }} lines leave no blank lines in the payload.
                line_start = text.rfind("\n", 0, start) + 1
                line_end = text.find("\n", end)
                line_end = len(text) if line_end == -1 else line_end
                if (
                    line_start >= position
                    and not text[line_start:start].strip()
                    and not text[end:line_end].strip()
                ):
                    start, end = line_start, min(line_end + 1, len(text))
            literal(text[position:start], position)
            position = end
            where = match.start()
            if (lit := _LITERAL.fullmatch(inner)) is not None:
                current().append(lit[1] if lit[1] is not None else lit[2])
            elif (cond := _IF.fullmatch(inner)) is not None:
                name = cond[2]
                if name not in definition.params:
                    problem(where, f"unknown parameter {name!r}")
                names.add(name)
                block = _If(name, bool(cond[1]), [], [])
                current().append(block)
                stack.append((block, where, False))
            elif inner.strip() == "else":
                if not stack or stack[-1][2]:
                    problem(where, "{{ else }} without an open {{ if }}")
                else:
                    block, offset, _ = stack.pop()
                    stack.append((block, offset, True))
            elif inner.strip() == "end":
                if not stack:
                    problem(where, "{{ end }} without an open {{ if }}")
                else:
                    stack.pop()
            elif (sub := _SUBSTITUTION.fullmatch(inner)) is not None:
                name = sub[1]
                filter_names = [f.strip() for f in sub[2].split("|")[1:]]
                param = definition.params.get(name)
                if param is None:
                    problem(where, f"unknown parameter {name!r}")
                    continue
                unknown = [f for f in filter_names if f not in FILTERS]
                if unknown:
                    problem(where, f"unknown filter {unknown[0]!r}; use yaml, json or shell")
                    continue
                if not filter_names and param.type not in SAFE_RAW_TYPES:
                    problem(
                        where,
                        f"{name!r} is free text ({param.type}): write {{{{ {name} | yaml }}}} "
                        "(or | json, | shell) so that its value cannot break the document",
                    )
                    continue
                names.add(name)
                current().append(_Sub(name, tuple(FILTERS[f] for f in filter_names)))
            else:
                problem(
                    where,
                    f"cannot read {{{{{inner}}}}}; expected a parameter name, if, else, end or a quoted literal",
                )
        literal(text[position:], position)
        for _block, offset, _ in stack:
            problem(offset, "{{ if }} without a matching {{ end }}")
        if problems:
            raise DefinitionError(problems)
        template = cls(root, frozenset(names), text)
        if check_yaml and text.lstrip().startswith("#cloud-config"):
            template._check_yaml(definition, path)
        return template

    def _check_yaml(self, definition: Definition, path: tuple) -> None:
        """Render with sample values twice (every block kept, then every block dropped) and
        parse each result, so a YAML mistake surfaces when the version is published rather
        than when a VM boots."""
        try:
            import yaml
        except ImportError:  # pragma: no cover - PyYAML ships with uvicorn[standard]
            return
        full = definition.sample_values()
        for name, param in definition.params.items():
            if param.type == "boolean":
                full[name] = True
        for label, values in (("with every block", full), ("without optional values", {})):
            text = self._render(values, reveal=True)
            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
                reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise DefinitionError(
                    [(path, f"{where}the rendered cloud-config ({label}) is not valid YAML: {reason}")]
                ) from None
            if not isinstance(loaded, dict):
                raise DefinitionError([(path, f"the rendered cloud-config ({label}) is not a YAML mapping")])

    def _render(self, values: Mapping[str, Any], *, reveal: bool) -> str:
        out: list[str] = []

        def walk(nodes: list) -> None:
            for node in nodes:
                if type(node) is str:
                    out.append(node)
                elif type(node) is _Sub:
                    value = values.get(node.name, MISSING)
                    if value is MISSING:
                        value = None
                    elif type(value) is Secret:
                        value = value.reveal() if reveal else REDACTED
                    if node.filters:
                        for f in node.filters:
                            value = f(value)
                        out.append(value)
                    else:
                        out.append(
                            "" if value is None else _scalar(value) if isinstance(value, bool) else str(value)
                        )
                else:
                    value = values.get(node.name, MISSING)
                    truthy = value is not MISSING and value is not None and value is not False
                    walk(node.then if truthy != node.negate else node.otherwise)

        walk(self._nodes)
        return "".join(out)

    def render(self, values: Mapping[str, Any]) -> RenderedUserData:
        """Fill the template from cleaned values (``Definition.validate``'s result)."""
        text = self._render(values, reveal=True)
        if len(text.encode("utf-8")) > MAX_RENDERED_BYTES:
            raise ParameterValidationError(
                {
                    NON_FIELD: [
                        f"These settings make the guest configuration larger than {MAX_RENDERED_BYTES // 1024} KiB."
                    ]
                }
            )
        return RenderedUserData(text, self._render(values, reveal=False))
