"""Fixtures for the gallery tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from gallery.models import GalleryItem, VMSize

# Hypothesis caches (constants, Unicode tables) go under var/, which git ignores, instead of a
# .hypothesis/ folder in the project root.
set_hypothesis_home_dir(str(Path(__file__).resolve().parents[2] / "var" / "hypothesis"))


@pytest.fixture
def sizes(db) -> dict[str, VMSize]:
    specs = [("small", 1, 2, 20), ("medium", 2, 4, 40), ("large", 4, 8, 80), ("xlarge", 8, 16, 160)]
    return {name: VMSize.objects.create(name=name, vcpus=c, ram_gib=r, disk_gib=d) for name, c, r, d in specs}


@pytest.fixture
def item(db) -> GalleryItem:
    return GalleryItem.objects.create(name="Tiny server", slug="tiny", publisher="Tests Inc.", category="os")
