"""Builders for the gallery tests: definitions, packages and versions, small and readable."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

from django.utils import timezone

from gallery.models import GalleryItem, GalleryItemVersion

SAMPLES = Path(__file__).resolve().parents[2] / "gallery" / "samples"
# A syntactically real ed25519 public key (random bytes, nobody's key).
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBSm4qmPyfs7ILYsHkzrb7b5vNcWNr+Z9lXB+QZGqIRR alice@laptop"


def ssh_key(payload: bytes = b"\x01" * 32, kind: str = "ssh-ed25519", comment: str = "") -> str:
    blob = len(kind).to_bytes(4, "big") + kind.encode() + len(payload).to_bytes(4, "big") + payload
    return f"{kind} {base64.b64encode(blob).decode()}" + (f" {comment}" if comment else "")


def param(name: str, type_: str = "string", **extra) -> dict:
    return {"name": name, "type": type_, "label": name.replace("_", " ").capitalize(), **extra}


def definition(*params: dict, sections: list[dict] | None = None) -> dict:
    if sections is not None:
        return {"sections": sections}
    return {"sections": [{"name": "main", "label": "Main", "parameters": list(params)}]}


def resource(**overrides) -> dict:
    base = {
        "image": "debian-12-genericcloud-amd64",
        "sizes": ["small", "medium"],
        "default_size": "small",
        "nic_count": 1,
        "instance_count": {"min": 1, "max": 3, "default": 1},
    }
    return {**base, **overrides}


def package(**overrides) -> dict:
    """A small valid package: one item, one published version."""
    doc = {
        "format": "cloudstamp.gallery-package",
        "format_version": 1,
        "item": {
            "name": "Tiny server",
            "slug": "tiny",
            "publisher": "Tests Inc.",
            "description": "For tests.",
            "category": "os",
            "os_family": "linux",
            "icon": "terminal",
        },
        "versions": [
            {
                "version": "1.0.0",
                "state": "published",
                "default_language": "en",
                "notes": "",
                "resource": resource(),
                "parameters": definition(
                    param("admin_user", default="admin", required=True, regex="[a-z]+"),
                    param("tls", "boolean"),
                    param("cert", multiline=True, required=True, visible_if={"param": "tls", "equals": True}),
                ),
                "extension": {"user_data": "#cloud-config\nusers:\n  - name: {{ admin_user | yaml }}\n"},
            }
        ],
    }
    doc.update(overrides)
    return copy.deepcopy(doc)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def make_version(
    item: GalleryItem, number: str = "1.0.0", state: str = "published", **fields
) -> GalleryItemVersion:
    major, minor, build = (int(x) for x in number.split("."))
    doc = package()["versions"][0]
    defaults = {
        "resource_definition": doc["resource"],
        "parameter_definition": doc["parameters"],
        "resource_extension": doc["extension"],
    }
    return GalleryItemVersion.objects.create(
        item=item,
        major=major,
        minor=minor,
        build=build,
        state=state,
        published_at=timezone.now() if state != "draft" else None,
        **{**defaults, **fields},
    )
