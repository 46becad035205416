"""Batch prediction over image files, folders and globs, streamed in batches.

Files are decoded with TensorFlow (`tf.io.decode_image`: JPEG, PNG, GIF, BMP). In a
folder or a glob, files without an image suffix are skipped with a warning naming them; a file
that cannot be decoded is skipped with a warning too, or passed to the caller's `on_error`. When the predictor knows its
input size, each image is first resized to it (bilinear, as the model's own `Resizing`
layer does, so the model's resize is then the identity and the prediction is the one the
model gives the raw image) and a batch holds `batch_size` images; otherwise each image is a
batch of one.
"""

import glob
import warnings
from pathlib import Path

import numpy as np

from kerasopt._validation import check_int
from kerasopt.export._deps import require_tensorflow_backend

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp")


# Images are decoded with tf.io; elsewhere a Predictor takes arrays decoded by any library.
_DECODE_ALTERNATIVE = "Pillow (PIL.Image.open) to decode, then call the Predictor on the arrays"


def find_images(inputs):
    """The files named by `inputs` (files, folders searched recursively, glob patterns), sorted
    within each input, without duplicates.

    A file named explicitly is always kept (if it is not an image, `predict_files` reports
    it); a file found in a folder or by a pattern whose suffix is not an image's
    (`IMAGE_SUFFIXES`) is skipped with a warning naming it.

    Args:
        inputs: an iterable of paths or glob patterns (str or Path).

    Returns:
        A list of `Path`.

    Raises:
        FileNotFoundError: an input matches nothing (the message names it).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from kerasopt.export import find_images
        >>> root = Path(tempfile.mkdtemp())
        >>> for name in ("b.jpg", "a.png", "sub/c.jpg"):
        ...     (root / name).parent.mkdir(exist_ok=True); _ = (root / name).write_bytes(b"")
        >>> [p.relative_to(root).as_posix() for p in find_images([root])]
        ['a.png', 'b.jpg', 'sub/c.jpg']
        >>> [p.name for p in find_images([str(root / "*.jpg")])]
        ['b.jpg']
    """
    found, seen = [], set()
    for item in inputs:
        path = Path(item)
        if path.is_file():
            matches = [path]
        else:
            listed = (
                path.rglob("*")
                if path.is_dir()
                else map(Path, glob.glob(str(item), recursive=True))
            )
            matches = sorted(p for p in listed if p.is_file())
            if not matches and not path.is_dir():
                raise FileNotFoundError(f"No file or folder matches {str(item)!r}")
            for other in [p for p in matches if p.suffix.lower() not in IMAGE_SUFFIXES]:
                warnings.warn(
                    f"Skipping {str(other)!r}: not an image file (suffix {other.suffix!r})",
                    stacklevel=2,
                )
            matches = [p for p in matches if p.suffix.lower() in IMAGE_SUFFIXES]
        for match in matches:
            key = match.resolve()
            if key not in seen:
                seen.add(key)
                found.append(match)
    return found


def _warn(path, message):
    warnings.warn(f"Skipping {str(path)!r}: {message}", stacklevel=4)


def _decode(path, on_error):
    """float32 (H, W, 3) RGB array, or None (after `on_error(path, message)`) when `path`
    cannot be read or decoded."""
    import tensorflow as tf

    try:
        image = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    except (tf.errors.OpError, OSError) as error:
        reason = (
            " ".join((getattr(error, "message", None) or str(error)).split())
            or type(error).__name__
        )
        on_error(path, f"not a readable JPEG, PNG, GIF or BMP image ({reason[:200]})")
        return None
    return tf.cast(image, tf.float32)


def read_images(paths, image_size):
    """Decode `paths` and resize each image to `image_size` (bilinear): one float32 array.

    Non-images are skipped with a warning, as in `predict_files`.

    Args:
        paths: image files.
        image_size: (height, width).

    Returns:
        (array of shape (n, height, width, 3), the list of the n paths read).

    Example:
        >>> import tempfile, tensorflow as tf
        >>> from pathlib import Path
        >>> from kerasopt.export import read_images
        >>> path = Path(tempfile.mkdtemp()) / "a.png"
        >>> _ = tf.io.write_file(str(path), tf.io.encode_png(tf.fill((6, 5, 3), tf.constant(7, tf.uint8))))
        >>> images, kept = read_images([path], (4, 4))
        >>> images.shape, float(images.max()), kept == [path]
        ((1, 4, 4, 3), 7.0, True)
    """
    require_tensorflow_backend("read_images", _DECODE_ALTERNATIVE)
    batches = list(_batches(list(paths), tuple(image_size), 1 << 30, _warn))
    if not batches:
        return np.zeros((0, *image_size, 3), "float32"), []
    names, images, _ = batches[0]
    return images, names


def _batches(paths, image_size, batch_size, on_error):
    import tensorflow as tf

    names, images = [], []
    for consumed, path in enumerate(paths, start=1):
        image = _decode(path, on_error)
        if image is None:
            continue
        if image_size is not None:
            image = tf.image.resize(image, image_size, method="bilinear")
        names.append(path)
        images.append(image.numpy())
        if image_size is None or len(images) == batch_size:
            yield names, np.stack(images), consumed
            names, images = [], []
    if images:
        yield names, np.stack(images), len(paths)


def predict_files(predictor, paths, batch_size=32, top_k=1, progress=None, on_error=None):
    """Yield one row per image: {"file", "top": [(class, probability), ...], "probabilities"}.

    Args:
        predictor: a `kerasopt.export.Predictor` (e.g. from `load_predictor`).
        paths: image files (e.g. from `find_images`).
        batch_size: images per call of the model, >= 1.
        top_k: classes kept per image, >= 1 (at most the number of classes).
        progress: None, or a callable receiving the number of files read after each batch
            (e.g. a `keras.utils.Progbar`'s `update`).
        on_error: None (a file that cannot be read or decoded is skipped with a warning), or a
            callable receiving (path, message) for each such file, which is then skipped.

    Example:
        >>> import tempfile, numpy as np, tensorflow as tf
        >>> from pathlib import Path
        >>> from kerasopt.export import Predictor, predict_files
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = tf.io.write_file(str(folder / "a.png"), tf.io.encode_png(tf.zeros((6, 5, 3), tf.uint8)))
        >>> p = Predictor(lambda x: np.tile([[0.2, 0.8]], (len(x), 1)), "keras", ["ant", "bee"], (4, 4))
        >>> [row["top"] for row in predict_files(p, [folder / "a.png"], top_k=1)]
        [[('bee', 0.800000011920929)]]
    """
    require_tensorflow_backend("predict_files", _DECODE_ALTERNATIVE)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    top_k = check_int("top_k", top_k, minimum=1)
    paths = list(paths)
    for names, batch, done in _batches(paths, predictor.image_size, batch_size, on_error or _warn):
        probabilities = predictor(batch)
        labels = predictor.class_names or [str(i) for i in range(probabilities.shape[-1])]
        k = min(top_k, probabilities.shape[-1])
        for name, probs in zip(names, probabilities, strict=True):
            order = np.argsort(-probs, kind="stable")[:k]
            yield {
                "file": str(name),
                "top": [(labels[i], float(probs[i])) for i in order],
                "probabilities": probs.tolist(),
            }
        if progress is not None:
            progress(done)
