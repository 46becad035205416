"""The body of a TF Serving predict request -> one float32 batch of RGB images, with limits.

TF Serving's REST API (https://www.tensorflow.org/tfx/serving/api_rest, "Predict API") takes
`{"instances": [...]}` (row format: one entry per example) or `{"inputs": ...}` (columnar: the
batch as one value, or `{"NAME": batch}` for the model's one input). An example is an image,
either `{"b64": "..."}` (an encoded JPEG or PNG, base64) or a nested array (height, width, 3) of
RGB values in [0, 255]; a single-input model also takes it wrapped as `{"NAME": image}`.

Every image is resized to the model's input size (bilinear, TensorFlow's half-pixel convention,
as the exported model's own `Resizing` does, so the model's resize is then the identity), and
the examples are stacked into one batch. Anything wrong raises `InputError`, whose message
names the example (`instances[3]: ...`) and whose `status` is the HTTP status to answer:
400 (malformed JSON, wrong shapes, not an image, a truncated image) or 413 (an image over
`max_pixels`: decompression bombs are refused from the header, before any pixel is decoded).
"""

import base64
import binascii
import io
import json

import numpy as np


class InputError(ValueError):
    """A bad request, worded for the client: `status` (400 or 413) and a one-line message.

    Example:
        >>> from kerasopt.serve import InputError
        >>> error = InputError("instances[2]: not a JPEG or PNG image")
        >>> error.status, str(error)
        (400, 'instances[2]: not a JPEG or PNG image')
    """

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def decode_image(data, max_pixels, where):
    """float32 (height, width, 3) RGB from the bytes of a JPEG or PNG file.

    Args:
        data: the encoded image.
        max_pixels: the largest height x width accepted (checked from the header).
        where: how the error messages name this example, e.g. "instances[2]".

    Raises:
        InputError: not a JPEG or PNG, truncated, or over `max_pixels` (status 413).

    Example:
        >>> import io, numpy as np
        >>> from PIL import Image
        >>> from kerasopt.serve.images import decode_image
        >>> buffer = io.BytesIO()
        >>> Image.fromarray(np.full((4, 6, 3), 9, "uint8")).save(buffer, "PNG")
        >>> image = decode_image(buffer.getvalue(), 100, "instances[0]")
        >>> image.shape, image.dtype, float(image.max())
        ((4, 6, 3), dtype('float32'), 9.0)
    """
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data), formats=("JPEG", "PNG"))
    except Image.DecompressionBombError as error:  # Pillow's own limit, far above max_pixels
        raise InputError(f"{where}: {_reason(error)}", status=413) from None
    except Image.UnidentifiedImageError:
        raise InputError(f"{where}: not a JPEG or PNG image") from None
    except Exception as error:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError...
        raise InputError(f"{where}: not a JPEG or PNG image ({_reason(error)})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(
            f"{where}: image of {width}x{height} = {width * height:,} pixels is over the limit "
            f"of {max_pixels:,} pixels",
            status=413,
        )
    try:
        pixels = np.asarray(image.convert("RGB"), dtype="float32")
    except Exception as error:  # a truncated file fails here, when the pixels are decoded
        raise InputError(f"{where}: the image cannot be decoded ({_reason(error)})") from None
    return pixels


def _reason(error):
    return " ".join(str(error).split())[:200] or type(error).__name__


def _array(value, max_pixels, where):
    try:
        image = np.asarray(value, dtype="float32")
    except (ValueError, TypeError):
        raise InputError(
            f"{where}: not an image: a nested array must be rectangular numbers (height, width, 3)"
        ) from None
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InputError(
            f"{where}: an image array must have shape (height, width, 3); received shape "
            f"{tuple(image.shape)}"
        )
    if image.shape[0] * image.shape[1] > max_pixels:
        raise InputError(f"{where}: image over the limit of {max_pixels:,} pixels", status=413)
    if image.size == 0 or not np.isfinite(image).all():
        raise InputError(f"{where}: an image array must be non-empty and finite")
    return image


def _example(value, input_name, max_pixels, where):
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            text = value["b64"]
            try:
                data = base64.b64decode(text, validate=True) if isinstance(text, str) else None
            except (binascii.Error, ValueError):
                data = None
            if data is None:
                raise InputError(f"{where}: the value of 'b64' must be a base64 string")
            return decode_image(data, max_pixels, where)
        if len(value) == 1 and input_name in value:
            return _example(value[input_name], input_name, max_pixels, f"{where}.{input_name}")
        raise InputError(
            f"{where}: an example must be {{'b64': ...}}, a nested array or "
            f"{{{input_name!r}: ...}}; received keys {sorted(value)}"
        )
    return _array(value, max_pixels, where)


def resize(image, size):
    """`image` (height, width, 3) resized to `size` (bilinear, TensorFlow's half-pixel
    convention: `tf.image.resize(image, size)`); unchanged when it already has that size."""
    if size is None or tuple(image.shape[:2]) == tuple(size):
        return image
    from kerasopt.layers._crops import crop_and_resize

    h, w = image.shape[:2]
    box = tuple(np.array([v], "float32") for v in (0.0, 0.0, h, w))
    return np.asarray(crop_and_resize(image[None], box, size[0], size[1]))[0]


def parse_request(body, input_name, image_size, max_pixels):
    """The batch a predict request asks for: (images float32 (n, h, w, 3), "instances"|"inputs").

    Args:
        body: the request body (bytes).
        input_name: the model's input name (for the `{"NAME": ...}` forms).
        image_size: (height, width) every image is resized to, or None (images kept as sent;
            they must then all have one size).
        max_pixels: the largest height x width of one image.

    Raises:
        InputError: the message names the example at fault.

    Example:
        >>> from kerasopt.serve.images import parse_request
        >>> body = b'{"instances": [[[[0, 0, 0], [255, 255, 255]]]]}'
        >>> images, key = parse_request(body, "images", (2, 2), 100)
        >>> images.shape, key
        ((1, 2, 2, 3), 'instances')
    """
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"malformed JSON: {_reason(error)}") from None
    if not isinstance(request, dict) or len({"instances", "inputs"} & set(request)) != 1:
        raise InputError(
            'the request must be a JSON object with one of "instances" or "inputs" '
            "(TF Serving's predict API)"
        )
    key = "instances" if "instances" in request else "inputs"
    examples = request[key]
    if key == "inputs" and isinstance(examples, dict):
        if set(examples) != {input_name}:
            raise InputError(
                f"inputs: the model has one input, {input_name!r}; received {sorted(examples)}"
            )
        examples = examples[input_name]
    if isinstance(examples, dict):  # one example given as {"b64": ...}
        examples = [examples]
    if not isinstance(examples, list) or not examples:
        raise InputError(f"{key}: must be a non-empty list of examples")
    images = [
        resize(_example(value, input_name, max_pixels, f"{key}[{i}]"), image_size)
        for i, value in enumerate(examples)
    ]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        first = images[0].shape
        i = next(i for i, image in enumerate(images) if image.shape != first)
        raise InputError(
            f"{key}[{i}]: shape {images[i].shape} differs from {key}[0]'s {first} (this model "
            "has no fixed input size, so one request's images must share one size)"
        )
    return np.stack(images), key
