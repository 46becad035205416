"""Crop-and-resize by separable bilinear interpolation, shared by the crop layers.

A crop box is (top, left, height, width) in continuous pixel-edge coordinates (the image
covers [0, H] x [0, W]; pixel j has its centre at j + 0.5). Output pixel i of an `out`-pixel
resize samples the source at t = top + (i + 0.5) * height / out - 0.5 (pixel-centre
coordinates, TensorFlow's half-pixel convention), clamped to [0, H - 1], with bilinear
(triangle) weights max(0, 1 - |t - j|): only pixels floor(t) and floor(t) + 1 have non-zero
weight, 1 - (t - floor(t)) and t - floor(t). Bilinear interpolation is separable, so a batch
of crops is two such two-pixel blends, along the rows and then along the columns, each a
gather of whole rows (cost proportional to the output, not to output x input as a dense
interpolation matrix would be). Pure `keras.ops`, XLA-friendly, differentiable in the
images; integer-aligned boxes of the output size reproduce plain slices exactly.
"""

from keras import ops


def sample_positions(start, length, in_size, out_size):
    """float32 (B, out_size) source positions resampling [start, start+length) to out_size."""
    centres = (ops.arange(out_size, dtype="float32")[None, :] + 0.5) * (length[:, None] / out_size)
    return ops.clip(start[:, None] + centres - 0.5, 0.0, in_size - 1.0)


def blend_rows(x, positions):
    """x (B, N, M) resampled along axis 1 at `positions` (B, K): (B, K, M), bilinear."""
    batch, n, m = ops.shape(x)[0], x.shape[1], x.shape[2]
    low = ops.floor(positions)
    weight = ops.reshape(ops.cast(positions - low, x.dtype), (-1, 1))
    low = ops.cast(low, "int32")
    offset = ops.arange(batch, dtype="int32")[:, None] * n
    rows = ops.reshape(x, (-1, m))
    below = ops.take(rows, ops.reshape(low + offset, (-1,)), axis=0)
    above = ops.take(rows, ops.reshape(ops.minimum(low + 1, n - 1) + offset, (-1,)), axis=0)
    return ops.reshape(below * (1 - weight) + above * weight, (batch, -1, m))


def crop_and_resize(images, boxes, height, width):
    """Resize crops `boxes` = (top, left, box_h, box_w), float32 (B,) each, of NHWC `images`.

    Returns (B, height, width, C) in `images.dtype` (positions computed in float32).
    """
    top, left, box_h, box_w = boxes
    batch = ops.shape(images)[0]
    in_h, in_w, channels = images.shape[1], images.shape[2], images.shape[3]
    x = blend_rows(
        ops.reshape(images, (batch, in_h, in_w * channels)),
        sample_positions(top, box_h, in_h, height),
    )
    x = ops.transpose(ops.reshape(x, (batch, height, in_w, channels)), (0, 2, 1, 3))
    x = blend_rows(
        ops.reshape(x, (batch, in_w, height * channels)),
        sample_positions(left, box_w, in_w, width),
    )
    return ops.transpose(ops.reshape(x, (batch, width, height, channels)), (0, 2, 1, 3))


def center_box(in_h, in_w, aspect, batch):
    """The largest centred box of aspect ratio `aspect` = width/height, as float32 (B,) tensors."""
    if in_w / in_h > aspect:
        box_h, box_w = float(in_h), in_h * aspect
    else:
        box_h, box_w = in_w / aspect, float(in_w)
    ones = ops.ones((batch,), "float32")
    return ((in_h - box_h) / 2 * ones, (in_w - box_w) / 2 * ones, box_h * ones, box_w * ones)
