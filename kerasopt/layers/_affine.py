"""Bilinear resampling of a batch of images under one affine map per image, reflected borders.

Output pixel (x, y) (column, row, pixel-centre coordinates) samples the source at
(a0 x + a1 y + a2, b0 x + b1 y + b2), the first six entries of Keras' 8-vector transform
convention (`keras.ops.image.affine_transform`); a position outside the image is reflected
about the edge (SciPy's "reflect", half-sample symmetric: period 2n), then interpolated from
its four neighbours. Equal to `keras.ops.image.affine_transform(..., "bilinear", "reflect")`
up to float32 rounding (tests/layers/test_flip_rotate_zoom.py), but written as four gathers
from the flattened batch, so XLA fuses it with what follows: on JAX on CPU it runs about 4x
faster than the `map_coordinates` path. Pure `keras.ops`, differentiable in the images.
"""

from keras import ops


def _reflect(position, size):
    """`position` folded into [-0.5, size - 0.5] by half-sample-symmetric reflection."""
    folded = ops.mod(position + 0.5, 2.0 * size)
    return ops.where(folded >= size, 2.0 * size - folded, folded) - 0.5


def affine_sample(images, transforms):
    """(B, H, W, C) `images` (any dtype) resampled under `transforms` (B, 6+), float32 out."""
    batch, height, width, channels = (ops.shape(images)[0], *images.shape[1:])
    rows, cols = ops.meshgrid(
        ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij"
    )
    a0, a1, a2, b0, b1, b2 = (ops.reshape(transforms[:, i], (-1, 1, 1)) for i in range(6))
    x = ops.clip(_reflect(a0 * cols + a1 * rows + a2, width), 0.0, width - 1.0)
    y = ops.clip(_reflect(b0 * cols + b1 * rows + b2, height), 0.0, height - 1.0)
    x0, y0 = ops.floor(x), ops.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    x1, y1 = ops.minimum(x0 + 1, width - 1), ops.minimum(y0 + 1, height - 1)
    pixels = ops.reshape(images, (-1, channels))
    base = ops.arange(batch, dtype="int32")[:, None, None] * (height * width)

    def at(row, col):
        return ops.cast(ops.take(pixels, base + row * width + col, axis=0), "float32")

    top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx
    return top * (1.0 - fy) + bottom * fy
