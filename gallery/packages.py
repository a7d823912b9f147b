"""Gallery packages: one JSON document holding an item and all its versions.

The format is documented in docs/gallery-packages.md and its structure is the JSON Schema in
``gallery/schema/package.schema.json``. Checking a package goes in layers, and reports every
problem of every layer it reaches, each with a JSON path:

1. size (at most 1 MiB) and UTF-8;
2. JSON syntax, with line and column; no repeated keys, no NaN, at most 32 levels deep;
3. the schema (types, required and unknown keys, patterns, ranges);
4. semantics: the parameter engine's definition checks, the resource definition against the
   parameters (image and disk-size parameters, sizes), extension placeholders and YAML,
   duplicate versions.

This module touches no database: services add what only the database knows (which VM sizes
exist, which versions are already stored) and store nothing unless everything is valid.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from gallery.extension import UserDataTemplate
from gallery.parameters import MISSING, Definition, DefinitionError, compile_definition
from gallery.schema import Problem, json_path, path_sort_key, schema_problems

PACKAGE_FORMAT = "cloudstamp.gallery-package"
PACKAGE_FORMAT_VERSION = 1
MAX_PACKAGE_BYTES = 1024 * 1024
MAX_DEPTH = 32
ITEM_KEYS = ("name", "slug", "publisher", "description", "category", "os_family", "icon")

PathParts = tuple[str | int, ...]


class PackageInvalid(ValidationError):
    """A package that cannot be imported, with every problem found. As a Django
    ``ValidationError`` its error dict maps each JSON path to its messages, which the API
    turns into a 400 response as it is."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        unique = sorted(set(problems), key=_problem_order)
        self.problems = unique
        errors: dict[str, list[str]] = {}
        for problem in unique:
            errors.setdefault(problem.path, []).append(problem.message)
        super().__init__(errors)


def _problem_order(problem: Problem) -> tuple:
    # "$.versions[10]" must sort after "$.versions[2]": compare the parsed path, not the text.
    parts: list[str | int] = []
    for token in problem.path.replace("]", "").replace("[", ".").split(".")[1:]:
        parts.append(int(token) if token.isdigit() else token)
    return (path_sort_key(parts), problem.message)


def _problems(items: Iterable[tuple[PathParts, str]]) -> list[Problem]:
    return [Problem(json_path(parts), message) for parts, message in items]


# --- parsing ------------------------------------------------------------------------------------


class _TooDeep(Exception):
    pass


def parse_package(data: bytes | str) -> Any:
    """Bytes or text → a JSON document, or ``PackageInvalid`` (size, encoding, syntax with
    line and column, repeated keys, nesting)."""
    if len(data) > MAX_PACKAGE_BYTES or (
        isinstance(data, str) and len(data.encode("utf-8", "surrogatepass")) > MAX_PACKAGE_BYTES
    ):
        raise PackageInvalid([Problem("$", f"the package is larger than 1 MiB ({MAX_PACKAGE_BYTES} bytes)")])
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise PackageInvalid(
                [Problem("$", f"line {line}, column {column}: the package is not UTF-8 text")]
            ) from None
    else:
        text = data
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        obj: dict = {}
        for key, value in items:
            if key in obj:
                repeated.append(key)
            obj[key] = value
        return obj

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not allowed in JSON")

    try:
        document = json.loads(text, object_pairs_hook=pairs, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise PackageInvalid([Problem("$", f"line {exc.lineno}, column {exc.colno}: {exc.msg}")]) from None
    except ValueError as exc:
        raise PackageInvalid([Problem("$", str(exc))]) from None
    except RecursionError:
        raise PackageInvalid([Problem("$", f"the package nests deeper than {MAX_DEPTH} levels")]) from None
    problems = [Problem("$", f"the key {key!r} appears twice in one object") for key in sorted(set(repeated))]
    try:
        check_depth(document)
    except _TooDeep:
        problems.append(Problem("$", f"the package nests deeper than {MAX_DEPTH} levels"))
    if problems:
        raise PackageInvalid(problems)
    return document


def check_depth(document: Any, limit: int = MAX_DEPTH) -> None:
    """Raise ``_TooDeep`` if ``document`` nests more than ``limit`` levels (iteratively, so a
    hostile document cannot exhaust the stack)."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise _TooDeep
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))


# --- checking -------------------------------------------------------------------------------------


@dataclass
class CheckedVersion:
    """One version of a package that passed every check."""

    index: int
    number: tuple[int, int, int]
    state: str
    default_language: str
    notes: str
    resource: dict
    parameters: dict
    extension: dict
    definition: Definition

    @property
    def version(self) -> str:
        return ".".join(map(str, self.number))

    def content(self) -> dict:
        """What makes two versions with the same number the same version."""
        return {
            "default_language": self.default_language,
            "resource": self.resource,
            "parameters": self.parameters,
            "extension": self.extension,
        }


@dataclass
class CheckedPackage:
    item: dict
    versions: list[CheckedVersion] = field(default_factory=list)


def check_version(
    *,
    resource: Any,
    parameters: Any,
    extension: Any,
    default_language: str = "en",
    known_sizes: Collection[str] | None = None,
    prefix: PathParts = (),
    schema: bool = True,
) -> tuple[list[tuple[PathParts, str]], Definition | None]:
    """Every problem of one version's three documents, as (path parts, message) with paths
    ``prefix + ("resource" | "parameters" | "extension", ...)``, and the compiled
    definition when it compiles.

    ``schema=False`` when the caller already validated the documents against the schema and
    passes only clean parts (the others as None are skipped)."""
    problems: list[tuple[PathParts, str]] = []
    parts_ok = {
        "resource": resource is not None,
        "parameters": parameters is not None,
        "extension": extension is not None,
    }
    if schema:
        for key, value, definition_name in (
            ("resource", resource, "resourceDefinition"),
            ("parameters", parameters, "parameterDefinition"),
            ("extension", extension, "resourceExtension"),
        ):
            found = schema_problems(value, definition=definition_name, prefix=(*prefix, key))
            problems.extend(found)
            parts_ok[key] = parts_ok[key] and not found
    definition: Definition | None = None
    if parts_ok["parameters"]:
        try:
            definition = compile_definition(parameters, default_language=default_language, check_schema=False)
        except DefinitionError as exc:
            problems.extend(((*prefix, "parameters", *path), message) for path, message in exc.problems)
    if parts_ok["resource"]:
        problems.extend(_resource_problems(resource, definition, known_sizes, (*prefix, "resource")))
    if definition is not None:
        sizes = set(resource.get("sizes", ())) if parts_ok["resource"] else None
        for i, param in enumerate(definition.of_type("vm_size")):
            if i > 0:
                problems.append(
                    (
                        (*prefix, "parameters", *param.path),
                        "a version has at most one vm_size parameter: all its instances share one size",
                    )
                )
            if sizes is not None and param.default is not MISSING and param.default not in sizes:
                problems.append(
                    (
                        (*prefix, "parameters", *param.path, "default"),
                        f"{param.default!r} is not one of resource.sizes",
                    )
                )
    if parts_ok["extension"] and definition is not None and extension.get("user_data"):
        try:
            UserDataTemplate.compile(
                extension["user_data"], definition, path=(*prefix, "extension", "user_data")
            )
        except DefinitionError as exc:
            problems.extend(exc.problems)
    return problems, definition


def _resource_problems(
    resource: Mapping[str, Any],
    definition: Definition | None,
    known_sizes: Collection[str] | None,
    path: PathParts,
) -> list[tuple[PathParts, str]]:
    out: list[tuple[PathParts, str]] = []
    sizes = resource["sizes"]
    if resource["default_size"] not in sizes:
        out.append(((*path, "default_size"), f"{resource['default_size']!r} is not one of sizes"))
    if known_sizes is not None:
        for i, name in enumerate(sizes):
            if name not in known_sizes:
                out.append(((*path, "sizes", i), f"no VM size named {name!r} exists here; create it first"))
    bounds = resource["instance_count"]
    if bounds["min"] > bounds["max"]:
        out.append(
            ((*path, "instance_count", "min"), f"min ({bounds['min']}) is greater than max ({bounds['max']})")
        )
    elif not bounds["min"] <= bounds["default"] <= bounds["max"]:
        out.append(
            (
                (*path, "instance_count", "default"),
                f"must lie between min ({bounds['min']}) and max ({bounds['max']})",
            )
        )
    seen: set[str] = set()
    for i, disk in enumerate(resource.get("data_disks", ())):
        if disk["name"] in seen:
            out.append(((*path, "data_disks", i, "name"), f"duplicate data disk name {disk['name']!r}"))
        seen.add(disk["name"])
        name = disk.get("size_gib_param")
        if name and definition is not None:
            param = definition.params.get(name)
            if param is None or param.type != "integer":
                out.append(
                    ((*path, "data_disks", i, "size_gib_param"), f"{name!r} is not an integer parameter")
                )
            elif param.min is None or param.min < 1 or param.max is None or param.max > 65536:
                out.append(
                    (
                        (*path, "data_disks", i, "size_gib_param"),
                        f"{name!r} needs min ≥ 1 and max ≤ 65536 to size a disk",
                    )
                )
    image = resource["image"]
    if isinstance(image, dict) and definition is not None:
        param = definition.params.get(image["param"])
        if param is None or param.type != "choice":
            out.append(((*path, "image", "param"), f"{image['param']!r} is not a choice parameter"))
        elif param.visible is not None:
            out.append(
                (
                    (*path, "image", "param"),
                    f"{image['param']!r} must always be visible: every deployment needs an image",
                )
            )
        elif not (param.required or (param.choices_from is None and param.default is not MISSING)):
            out.append(
                ((*path, "image", "param"), f"{image['param']!r} must be required or have a fixed default")
            )
    return out


def check_package(document: Any, *, known_sizes: Collection[str] | None = None) -> CheckedPackage:
    """Check a parsed package completely, or raise ``PackageInvalid`` with every problem."""
    problems = schema_problems(document)
    dirty = {parts[:3] for parts, _ in problems if len(parts) >= 3 and parts[0] == "versions"}
    dirty_versions = {parts[:2] for parts, _ in problems if len(parts) >= 2 and parts[0] == "versions"}
    checked = CheckedPackage(item={})
    if isinstance(document, dict) and isinstance(document.get("item"), dict):
        checked.item = {key: document["item"][key] for key in ITEM_KEYS if key in document["item"]}
    versions = document.get("versions") if isinstance(document, dict) else None
    seen: dict[str, int] = {}
    for i, version in enumerate(versions if isinstance(versions, list) else ()):
        if not isinstance(version, dict):
            continue
        prefix = ("versions", i)
        number = version.get("version")
        if isinstance(number, str) and ("versions", i, "version") not in dirty:
            if number in seen:
                problems.append(
                    (
                        (*prefix, "version"),
                        f"duplicate version {number}: already at $.versions[{seen[number]}]",
                    )
                )
            else:
                seen[number] = i
        language = (
            version.get("default_language", "en") if (*prefix, "default_language") not in dirty else "en"
        )
        found, definition = check_version(
            resource=version.get("resource") if (*prefix, "resource") not in dirty else None,
            parameters=version.get("parameters") if (*prefix, "parameters") not in dirty else None,
            extension=version.get("extension", {}) if (*prefix, "extension") not in dirty else None,
            default_language=language,
            known_sizes=known_sizes,
            prefix=prefix,
            schema=False,
        )
        problems.extend(found)
        if definition is not None and prefix not in dirty_versions and not found:
            major, minor, build = (int(x) for x in number.split("."))
            checked.versions.append(
                CheckedVersion(
                    index=i,
                    number=(major, minor, build),
                    state=version.get("state", "draft"),
                    default_language=version.get("default_language", "en"),
                    notes=version.get("notes", ""),
                    resource=version["resource"],
                    parameters=version["parameters"],
                    extension=version.get("extension", {}),
                    definition=definition,
                )
            )
    if problems:
        raise PackageInvalid(_problems(problems))
    return checked


def load_package(
    data: bytes | str | Mapping, *, known_sizes: Collection[str] | None = None
) -> CheckedPackage:
    """Parse (unless already parsed) and check a package. An already parsed document gets
    the same size and depth limits as raw text."""
    if isinstance(data, Mapping):
        try:
            check_depth(data)
        except _TooDeep:
            raise PackageInvalid(
                [Problem("$", f"the package nests deeper than {MAX_DEPTH} levels")]
            ) from None
        try:
            size = len(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        except (TypeError, ValueError):
            raise PackageInvalid([Problem("$", "the package is not plain JSON data")]) from None
        if size > MAX_PACKAGE_BYTES:
            raise PackageInvalid(
                [Problem("$", f"the package is larger than 1 MiB ({MAX_PACKAGE_BYTES} bytes)")]
            )
        document = data
    else:
        document = parse_package(data)
    return check_package(document, known_sizes=known_sizes)


# --- export ---------------------------------------------------------------------------------------


def export_package(item, versions: Iterable) -> dict:
    """An item and its versions (oldest first) as a package that imports back to the same
    item. ``item`` and ``versions`` are model instances (or anything with their fields)."""
    return {
        "format": PACKAGE_FORMAT,
        "format_version": PACKAGE_FORMAT_VERSION,
        "item": {key: getattr(item, key) for key in ITEM_KEYS},
        "versions": [
            {
                "version": v.version,
                "state": v.state,
                "default_language": v.default_language,
                "notes": v.notes,
                "resource": v.resource_definition,
                "parameters": v.parameter_definition,
                "extension": v.resource_extension,
            }
            for v in sorted(versions, key=lambda v: (v.major, v.minor, v.build))
        ],
    }


def dumps_package(document: Mapping) -> str:
    """The package as people read and diff it: indented, UTF-8, newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
