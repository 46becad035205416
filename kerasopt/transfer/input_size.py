"""The backbone's input size chosen from the training images' own size.

Source: the cost of a convolutional backbone grows with the pixel count (Sandler et al.,
MobileNetV2, 2018, Table 6 lists 96 to 224 px inputs; 160 px costs about half of 224 px), and
upscaling small photos adds cost without detail. Only the training files' headers are read
(Pillow reads the size without decoding), so the validation and test splits play no part.
"""

import numpy as np
from PIL import Image

from kerasopt._validation import check_int

SMALL_SIDE = 64  # a median shorter side below this counts as tiny (digits, icons)
TINY_SIZE = 96  # ... and is upscaled to this, the smallest size of the ImageNet weights
PHOTO_SIZE = 160  # photos: about half the cost of 224 px (see the transfer guide) ...
FULL_SIZE = 224  # ... or the weights' own size, for large photos when the set is small
SMALL_SET = 1000  # training images up to which a pass at FULL_SIZE is cheap enough


def size_from_files(paths, max_files=200):
    """The input size (pixels, square) for training images `paths`, from the median shorter
    side m of (up to `max_files`, evenly spaced) files: `TINY_SIZE` when m < `SMALL_SIDE`;
    `FULL_SIZE` when m >= `FULL_SIZE` and there are at most `SMALL_SET` files (a pass over
    them is cheap, and the photos have the detail); else `PHOTO_SIZE` (no upscaling of small
    photos to 224, and twice the epochs in the same time on a large set).

    Args:
        paths: training image files (never validation or test ones).
        max_files: the most files whose headers are read (>= 1).

    Returns:
        An int: `TINY_SIZE`, `PHOTO_SIZE` or `FULL_SIZE`.

    Example:
        >>> import os, tempfile
        >>> from PIL import Image
        >>> from kerasopt.transfer.input_size import size_from_files
        >>> root = tempfile.mkdtemp()
        >>> for side in (28, 28, 500):
        ...     Image.new("RGB", (side, side)).save(os.path.join(root, f"{side}_{len(os.listdir(root))}.png"))
        >>> paths = sorted(os.path.join(root, f) for f in os.listdir(root))
        >>> size_from_files(paths)  # median 28 px
        96
        >>> size_from_files(paths[-1:]), size_from_files(paths[-1:] * 1001)  # 500 px: 1 or 1001 files
        (224, 160)
    """
    check_int("max_files", max_files, minimum=1)
    paths = list(paths)
    if not paths:
        raise ValueError(f"Argument `paths` must name at least one image. Received: paths={paths}")
    picked = [
        paths[i] for i in np.linspace(0, len(paths) - 1, min(max_files, len(paths))).astype(int)
    ]
    sides = []
    for path in picked:
        with Image.open(path) as image:
            sides.append(min(image.size))
    median = float(np.median(sides))
    if median < SMALL_SIDE:
        return TINY_SIZE
    return FULL_SIZE if median >= FULL_SIZE and len(paths) <= SMALL_SET else PHOTO_SIZE
