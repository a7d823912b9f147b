"""Gallery parameter validation: Cloudstamp's engine against ``jsonschema`` in the same run.

Builds a 40-parameter definition in four sections with dependent fields (``visible_if`` on
booleans, nested ``all`` and ``not``, two ``choices_from`` maps) and the closest JSON Schema
draft 2020-12 equivalent (``if``/``then`` for dependent requirements and choice lists,
``enum`` for sizes and networks, ``pattern`` for regexes). Both validators are compiled once;
then the same valid record is validated ``--iterations`` times by each, and the ops/s and
their ratio are printed with PASS / FAIL against the issue's target (ours ≥ 0.5× jsonschema),
while ours also coerces form text, applies defaults, drops hidden fields, wraps secrets and
checks SSH keys' contents.

Run: ``python -m benchmarks.gallery_validate`` (no database needed).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

TARGET_RATIO = 0.5
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBSm4qmPyfs7ILYsHkzrb7b5vNcWNr+Z9lXB+QZGqIRR ops@example"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQk\n-----END CERTIFICATE-----"
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----"
SIZES = ["small", "medium", "large", "xlarge"]
NETWORKS = ["frontend", "backend", "management"]
IMAGES = {
    "debian": ["debian-12", "debian-11"],
    "ubuntu": ["ubuntu-24.04", "ubuntu-22.04"],
    "rocky": ["rocky-9"],
}
DB_VERSIONS = {"postgresql": ["17", "16", "15"], "mariadb": ["11.4", "10.11"]}


def _p(name: str, type_: str, **extra: Any) -> dict:
    return {
        "name": name,
        "type": type_,
        "label": {"en": name.replace("_", " ").capitalize(), "de": name},
        **extra,
    }


def build_definition() -> dict:
    """The 40 parameters, in four sections of ten."""
    web = {"param": "web_enabled", "equals": True}
    web_tls = {"all": [web, {"param": "tls", "equals": True}]}
    db = {"param": "db_enabled", "equals": True}
    backups = {"param": "backups", "equals": True}
    return {
        "sections": [
            {
                "name": "basics",
                "label": "Basics",
                "parameters": [
                    _p("family", "choice", choices=list(IMAGES), default="debian", required=True),
                    _p("image", "choice", choices_from={"param": "family", "map": IMAGES}, required=True),
                    _p("size", "vm_size", default="small", required=True),
                    _p("hostname", "hostname_prefix", default="app", required=True),
                    _p("replicas", "integer", min=1, max=10, default=1),
                    _p("environment", "choice", choices=["dev", "staging", "prod"], required=True),
                    _p("description", "string", max_length=200),
                    _p("owner_email", "string", regex=r"[^@\s]+@[^@\s]+\.[a-z]{2,}", required=True),
                    _p("cost_center", "string", regex=r"[A-Z]{2}-[0-9]{4}", required=True),
                    _p("network", "tenant_network", required=True),
                ],
            },
            {
                "name": "access",
                "label": "Access",
                "parameters": [
                    _p(
                        "admin_user",
                        "string",
                        regex=r"[a-z_][a-z0-9_-]{0,31}",
                        default="cloudadmin",
                        required=True,
                    ),
                    _p("ssh_key", "ssh_public_key", required=True),
                    _p("extra_key_enabled", "boolean"),
                    _p(
                        "extra_key",
                        "ssh_public_key",
                        required=True,
                        visible_if={"param": "extra_key_enabled", "equals": True},
                    ),
                    _p("password_login", "boolean"),
                    _p(
                        "admin_password",
                        "secret",
                        min_length=12,
                        max_length=128,
                        required=True,
                        visible_if={"param": "password_login", "equals": True},
                    ),
                    _p("sudo_nopasswd", "boolean", default=True),
                    _p("shell", "choice", choices=["bash", "zsh", "sh"], default="bash"),
                    _p(
                        "timezone",
                        "choice",
                        choices=["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"],
                        default="UTC",
                    ),
                    _p(
                        "locale",
                        "choice",
                        choices=["en_US.UTF-8", "de_DE.UTF-8", "fr_FR.UTF-8"],
                        default="en_US.UTF-8",
                    ),
                ],
            },
            {
                "name": "web",
                "label": "Web",
                "parameters": [
                    _p("web_enabled", "boolean", default=True),
                    _p("web_server", "choice", choices=["nginx", "apache2"], default="nginx", visible_if=web),
                    _p("http_port", "integer", min=1, max=65535, default=80, visible_if=web),
                    _p("tls", "boolean", visible_if=web),
                    _p(
                        "certificate",
                        "string",
                        multiline=True,
                        max_length=32768,
                        regex=r"-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----",
                        required=True,
                        visible_if=web_tls,
                    ),
                    _p(
                        "private_key",
                        "secret",
                        multiline=True,
                        regex=r"-----BEGIN PRIVATE KEY-----[\s\S]+-----END PRIVATE KEY-----",
                        required=True,
                        visible_if=web_tls,
                    ),
                    _p("redirect_http", "boolean", default=True, visible_if=web_tls),
                    _p(
                        "server_name",
                        "string",
                        regex=r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?",
                        required=True,
                        visible_if=web,
                    ),
                    _p(
                        "max_body_mb",
                        "integer",
                        min=1,
                        max=1024,
                        default=10,
                        visible_if={"not": {"param": "web_enabled", "equals": False}},
                    ),
                    _p("gzip", "boolean", default=True, visible_if=web),
                ],
            },
            {
                "name": "data",
                "label": "Data",
                "parameters": [
                    _p("db_enabled", "boolean"),
                    _p("db_engine", "choice", choices=list(DB_VERSIONS), default="postgresql", visible_if=db),
                    _p(
                        "db_version",
                        "choice",
                        choices_from={"param": "db_engine", "map": DB_VERSIONS},
                        required=True,
                        visible_if=db,
                    ),
                    _p("db_name", "string", regex=r"[a-z_][a-z0-9_]{0,62}", default="app", visible_if=db),
                    _p("db_password", "secret", min_length=12, required=True, visible_if=db),
                    _p("disk_gib", "integer", min=10, max=2048, default=50),
                    _p("backups", "boolean", default=True),
                    _p(
                        "backup_schedule",
                        "choice",
                        choices=["hourly", "daily", "weekly"],
                        default="daily",
                        visible_if=backups,
                    ),
                    _p("retention_days", "integer", min=1, max=90, default=7, visible_if={"any": [backups]}),
                    _p("notes", "string", multiline=True, max_length=1000),
                ],
            },
        ]
    }


def build_schema(definition: dict) -> dict:
    """The same rules as a JSON Schema, as far as JSON Schema can say them: types, ranges,
    lengths, anchored patterns, enums; ``if``/``then`` for fields required while visible and
    for choice lists that depend on another field. (It cannot drop hidden fields, apply
    defaults, coerce form text or look inside an SSH key.)"""
    properties: dict[str, dict] = {}
    required: list[str] = []
    conditionals: list[dict] = []

    def condition_schema(cond: dict) -> dict:
        if "all" in cond:
            return {"allOf": [condition_schema(c) for c in cond["all"]]}
        if "any" in cond:
            return {"anyOf": [condition_schema(c) for c in cond["any"]]}
        if "not" in cond:
            return {"not": condition_schema(cond["not"])}
        return {"properties": {cond["param"]: {"const": cond["equals"]}}, "required": [cond["param"]]}

    for section in definition["sections"]:
        for p in section["parameters"]:
            name, kind = p["name"], p["type"]
            s: dict[str, Any]
            if kind in ("string", "secret", "hostname_prefix"):
                s = {"type": "string"}
                if "regex" in p:
                    s["pattern"] = f"^(?:{p['regex']})$"
                if "min_length" in p:
                    s["minLength"] = p["min_length"]
                s["maxLength"] = p.get("max_length", 4096)
                if kind == "hostname_prefix":
                    s["pattern"] = "^[a-z](?:[a-z0-9-]*[a-z0-9])?$"
            elif kind == "integer":
                s = {"type": "integer"}
                if "min" in p:
                    s["minimum"] = p["min"]
                if "max" in p:
                    s["maximum"] = p["max"]
            elif kind == "boolean":
                s = {"type": "boolean"}
            elif kind == "choice" and "choices" in p:
                s = {"enum": list(p["choices"])}
            elif kind == "choice":
                source = p["choices_from"]["param"]
                s = {"type": "string"}
                for key, values in p["choices_from"]["map"].items():
                    conditionals.append(
                        {
                            "if": {"properties": {source: {"const": key}}, "required": [source]},
                            "then": {"properties": {name: {"enum": values}}},
                        }
                    )
            elif kind == "ssh_public_key":
                s = {
                    "type": "string",
                    "pattern": r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) [A-Za-z0-9+/]+={0,2}( .*)?$",
                }
            elif kind == "vm_size":
                s = {"enum": SIZES}
            else:  # tenant_network
                s = {"enum": NETWORKS}
            properties[name] = s
            if p.get("required") and "default" not in p:
                if "visible_if" in p:
                    conditionals.append(
                        {"if": condition_schema(p["visible_if"]), "then": {"required": [name]}}
                    )
                else:
                    required.append(name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "allOf": conditionals,
    }


def valid_record() -> dict:
    """Every visible field set: web with TLS, a database, backups, password login."""
    return {
        "family": "ubuntu",
        "image": "ubuntu-24.04",
        "size": "medium",
        "hostname": "shop",
        "replicas": 3,
        "environment": "prod",
        "description": "Shop front end",
        "owner_email": "ops@example.com",
        "cost_center": "DE-1234",
        "network": "frontend",
        "admin_user": "ops",
        "ssh_key": SSH_KEY,
        "extra_key_enabled": False,
        "password_login": True,
        "admin_password": "correct horse battery staple",
        "sudo_nopasswd": False,
        "shell": "bash",
        "timezone": "Europe/Berlin",
        "locale": "de_DE.UTF-8",
        "web_enabled": True,
        "web_server": "nginx",
        "http_port": 8080,
        "tls": True,
        "certificate": CERT,
        "private_key": KEY,
        "redirect_http": True,
        "server_name": "shop.example.com",
        "max_body_mb": 20,
        "gzip": True,
        "db_enabled": True,
        "db_engine": "postgresql",
        "db_version": "16",
        "db_name": "shop",
        "db_password": "another long secret",
        "disk_gib": 200,
        "backups": True,
        "backup_schedule": "hourly",
        "retention_days": 14,
        "notes": "Owned by the shop team.\nPage them first.",
    }


INVALID_RECORDS = [
    {"image": "debian-12"},  # ubuntu family: a debian image is not on offer
    {"replicas": 11},
    {"cost_center": "de-12"},
    {"network": "elsewhere"},
    {"certificate": None},  # required while TLS is on
    {"db_version": "11.4"},  # a mariadb version for postgresql
    {"unknown_field": 1},
    {"http_port": "eighty"},
]


def _rate(fn: Callable[[], Any], iterations: int) -> float:
    for _ in range(min(500, iterations)):
        fn()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return iterations / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gallery_validate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target ratio is missed")
    args = parser.parse_args(argv)

    from jsonschema import Draft202012Validator

    from gallery.parameters import Context, ParameterValidationError, compile_definition

    raw = build_definition()
    n_params = sum(len(s["parameters"]) for s in raw["sections"])
    definition = compile_definition(raw)
    context = Context(vm_sizes=SIZES, networks=NETWORKS, language="en")
    schema = build_schema(raw)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    record = valid_record()

    # Same verdicts before timing anything: both accept the record, both reject each variant.
    assert not list(validator.iter_errors(record)), list(validator.iter_errors(record))
    cleaned = definition.validate(record, context)
    assert len(cleaned) == len(record), sorted(set(record) - set(cleaned))
    for change in INVALID_RECORDS:
        bad = {k: v for k, v in {**record, **change}.items() if v is not None}
        assert list(validator.iter_errors(bad)), change
        try:
            definition.validate(bad, context)
        except ParameterValidationError:
            pass
        else:
            raise AssertionError(f"Cloudstamp accepted {change}")

    ours = _rate(lambda: definition.validate(record, context), args.iterations)
    theirs = _rate(lambda: list(validator.iter_errors(record)), args.iterations)
    ratio = ours / theirs
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"

    print(f"Gallery parameter validation: {n_params} parameters, {args.iterations:,} validations each")
    print(f"Python {platform.python_version()} on {platform.machine()}")
    print(f"  {'validator':<34}{'ops/s':>12}")
    print(f"  {'cloudstamp gallery.parameters':<34}{ours:>12,.0f}")
    print(f"  {'jsonschema Draft202012Validator':<34}{theirs:>12,.0f}")
    print(f"  ratio cloudstamp / jsonschema: {ratio:.2f}x (target >= {TARGET_RATIO}x): {verdict}")
    return 1 if args.strict and verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
