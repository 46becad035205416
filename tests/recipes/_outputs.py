"""Checks shared by the recipe tests: what a run folder holds, read without the recipe's code."""

import io

from PIL import Image


def check_png(path):
    """`path` is a complete PNG image (signature, decodable, non-empty) as Pillow reads it."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()  # decodes every chunk: a truncated file raises here
        assert image.width > 0 and image.height > 0


def check_folder(folder, expected):
    """`folder` holds exactly the names `expected`: every file published, and no temporary
    left by kerasopt._io.atomic_path (its hidden `.NAME.xxxx` folders beside each target)."""
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(expected), names
