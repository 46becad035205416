"""Small real data for the transfer tests: a subset of ants vs bees, copied to a temp folder."""

import shutil

import pytest


def _subset(src, dst, per_class):
    for cls in ("ants", "bees"):
        files = sorted(p for p in (src / cls).glob("*.jpg") if " " not in p.name)[:per_class]
        (dst / cls).mkdir(parents=True)
        for f in files:
            shutil.copy(f, dst / cls / f.name)


@pytest.fixture(scope="session")
def hymenoptera(assets):
    """Path of the full ants-vs-bees folder (train/ and val/)."""
    return assets / "datasets" / "hymenoptera_data"


@pytest.fixture(scope="session")
def small_folder(hymenoptera, tmp_path_factory):
    """train/ 24 + 24 and val/ 16 + 16 JPEGs of ants and bees."""
    root = tmp_path_factory.mktemp("antsbees")
    _subset(hymenoptera / "train", root / "train", 24)
    _subset(hymenoptera / "val", root / "val", 16)
    return root
