"""The package JSON Schema (``package.schema.json``) and readable, path-addressed errors.

Validators are compiled once per process. Errors come back as ``Problem(path, message)``
with JSON paths like ``$.versions[0].parameters.sections[1].parameters[2].regex``; messages
never embed the offending value whole (a 60 KiB string stays out of an error list).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("package.schema.json")

_IDENTIFIER_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

PathPart = str | int


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a document, at a JSON path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def json_path(parts: Iterable[PathPart], root: str = "$") -> str:
    """``("sections", 1, "regex")`` → ``$.sections[1].regex``."""
    out = [root]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER_KEY.fullmatch(part):
            out.append(f".{part}")
        else:
            out.append("[" + json.dumps(part[:100]) + "]")
    return "".join(out)


@functools.cache
def package_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.cache
def validator_for(definition: str | None = None):
    """A compiled Draft 2020-12 validator for the whole package, or for one ``$defs`` entry
    (e.g. ``"parameterDefinition"``) so that services can check one part of a version."""
    from jsonschema import Draft202012Validator

    schema = package_schema()
    if definition is not None:
        if definition not in schema["$defs"]:
            raise KeyError(definition)
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return json.dumps(text, ensure_ascii=False) if isinstance(value, str) else text


_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def _messages(error) -> list[tuple[tuple[PathPart, ...], str]]:
    """Turn one jsonschema error into (path parts, message) pairs in our own words."""
    path = tuple(error.absolute_path)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if "propertyNames" in error.schema_path:
        # jsonschema reports a bad key at its object's path; report it at the key's own.
        return [((*path, str(instance)), f"{_short(instance)} is not an allowed key here")]
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = set(error.schema.get("properties", {}))
        return [((*path, key), "unknown key") for key in instance if key not in allowed]
    if kind == "required" and isinstance(instance, dict):
        return [((*path, key), "is required") for key in expected if key not in instance]
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return [(path, f"must be {want}, not {_TYPE_NAMES.get(_json_type(instance), _json_type(instance))}")]
    if kind == "enum":
        return [(path, f"must be one of {', '.join(_short(v) for v in expected)}; got {_short(instance)}")]
    if kind == "const":
        return [(path, f"must be {_short(expected)}; got {_short(instance)}")]
    if kind == "pattern":
        return [(path, f"{_short(instance)} does not match the pattern {expected}")]
    if kind == "minLength":
        return [(path, f"must be at least {expected} characters long")]
    if kind == "maxLength":
        return [(path, f"must be at most {expected} characters long")]
    if kind == "minimum":
        return [(path, f"must be at least {expected}")]
    if kind == "maximum":
        return [(path, f"must be at most {expected}")]
    if kind == "minItems":
        return [(path, f"must hold at least {expected} item(s)")]
    if kind == "maxItems":
        return [(path, f"must hold at most {expected} items")]
    if kind == "minProperties":
        return [(path, f"must hold at least {expected} key(s)")]
    if kind == "maxProperties":
        return [(path, f"must hold at most {expected} keys")]
    if kind == "uniqueItems":
        return [(path, "must not repeat an item")]
    message = error.message
    return [(path, message if len(message) <= 200 else message[:199] + "…")]


def path_sort_key(parts: Sequence[PathPart]) -> tuple:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in parts)


def schema_problems(
    document: Any, *, definition: str | None = None, prefix: Sequence[PathPart] = (), root: str = "$"
) -> list[tuple[tuple[PathPart, ...], str]]:
    """Every schema violation in ``document`` as (path parts, message), sorted by path and
    without duplicates. ``prefix`` is prepended to each path."""
    seen: set = set()
    out: list[tuple[tuple[PathPart, ...], str]] = []
    for error in validator_for(definition).iter_errors(document):
        for parts, message in _messages(error):
            full = tuple(prefix) + parts
            if (full, message) not in seen:
                seen.add((full, message))
                out.append((full, message))
    out.sort(key=lambda pm: (path_sort_key(pm[0]), pm[1]))
    return out
