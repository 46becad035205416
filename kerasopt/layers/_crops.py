"""Crop-and-resize by separable bilinear interpolation matrices, shared by the crop layers.

A crop box is (top, left, height, width) in continuous pixel-edge coordinates (the image
covers [0, H] x [0, W]; pixel j has its centre at j + 0.5). Output pixel i of an `out`-pixel
resize samples the source at t = top + (i + 0.5) * height / out - 0.5 (pixel-centre
coordinates, TensorFlow's half-pixel convention), clamped to [0, H - 1], with bilinear
(triangle) weights max(0, 1 - |t - j|). Bilinear interpolation is separable, so a batch of
crops is two batched matrix products: out = R_y @ image @ R_x^T. Pure `keras.ops`, XLA-friendly,
differentiable; integer-aligned boxes of the output size reproduce plain slices exactly.
"""

from keras import ops


def interpolation_matrices(start, length, in_size, out_size):
    """float32 (B, out_size, in_size) bilinear weights resampling [start, start+length) to out_size."""
    centres = (ops.arange(out_size, dtype="float32")[None, :] + 0.5) * (length[:, None] / out_size)
    source = ops.clip(start[:, None] + centres - 0.5, 0.0, in_size - 1.0)
    pixels = ops.arange(in_size, dtype="float32")[None, None, :]
    return ops.maximum(0.0, 1.0 - ops.abs(source[:, :, None] - pixels))


def crop_and_resize(images, boxes, height, width):
    """Resize crops `boxes` = (top, left, box_h, box_w), float32 (B,) each, of NHWC `images`.

    Returns (B, height, width, C) in `images.dtype` (weights computed in float32, cast).
    """
    top, left, box_h, box_w = boxes
    in_h, in_w = images.shape[1], images.shape[2]
    rows = ops.cast(interpolation_matrices(top, box_h, in_h, height), images.dtype)
    cols = ops.cast(interpolation_matrices(left, box_w, in_w, width), images.dtype)
    x = ops.einsum("bij,bjkc->bikc", rows, images)
    return ops.einsum("blk,bikc->bilc", cols, x)


def center_box(in_h, in_w, aspect, batch):
    """The largest centred box of aspect ratio `aspect` = width/height, as float32 (B,) tensors."""
    if in_w / in_h > aspect:
        box_h, box_w = float(in_h), in_h * aspect
    else:
        box_h, box_w = in_w / aspect, float(in_w)
    ones = ops.ones((batch,), "float32")
    return ((in_h - box_h) / 2 * ones, (in_w - box_w) / 2 * ones, box_h * ones, box_w * ones)
