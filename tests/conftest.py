"""Test harness: offline assets, a temporary KERAS_HOME, two logical CPUs (TensorFlow backend
only), fixed seeds. Under `CI` (true), proof cannot be skipped: missing assets fail the run
(naming the path looked for), and a skip in `tests/faults` or in a test that needs the assets
is a failure.

Runs before any test module imports Keras, because Keras reads KERAS_HOME at import.
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from kerasopt.cli._offline import find_assets, use_offline_keras_home  # noqa: E402  (keras-free)

ASSETS = find_assets()
use_offline_keras_home(ASSETS)
# Where the assets were looked for: the path a missing-assets failure names.
ASSETS_WANTED = os.environ.get("KERASOPT_ASSETS") or str(
    Path(__file__).resolve().parents[1].parent / "shared" / "assets"
)
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

import pytest  # noqa: E402

# the `reference` marker: which public objects a test verifies, written into the JUnit XML
pytest_plugins = ("tests.backends.reference",)

# The backend the whole run uses (KERAS_BACKEND=jax for CI's `-m portable` run). TensorFlow's
# set-up happens only on its own backend, so a JAX run never imports TensorFlow here.
ON_TENSORFLOW = os.environ["KERAS_BACKEND"] == "tensorflow"
if ON_TENSORFLOW:
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    # Two logical CPU devices stand in for two GPUs in MirroredStrategy tests. This must happen
    # before TensorFlow initializes its devices, i.e. here, at collection time.
    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )

import keras  # noqa: E402


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Every test starts from the same Python, NumPy, TensorFlow and Keras seeds."""
    keras.utils.set_random_seed(1234)
    yield


def pytest_sessionstart(session):
    """Under CI the offline assets are part of the proof: their absence fails the run at once."""
    if IN_CI and ASSETS is None:
        raise pytest.UsageError(
            f"CI: the offline assets are missing: {ASSETS_WANTED} is not a folder "
            "(set KERASOPT_ASSETS to the assets folder)"
        )


@pytest.fixture(scope="session")
def assets():
    """Path of the offline assets; skips the test (with the reason) when they are absent."""
    if ASSETS is None:
        pytest.skip(
            f"offline assets not found at {ASSETS_WANTED}: set KERASOPT_ASSETS or place them "
            "at ../shared/assets"
        )
    return ASSETS


@pytest.fixture(scope="session")
def keras_home(assets):
    """The temporary KERAS_HOME holding a copy of the offline Keras cache."""
    home = os.environ.get("KERAS_HOME")
    if not home or not os.path.isdir(os.path.join(home, "models")):
        pytest.skip(f"no Keras cache: {assets / 'keras_home'} is missing")
    return home


def _skipped_by_mark(item):
    """Whether a `skip` mark, or a `skipif` mark whose condition holds, declares the skip
    (a backend the test does not apply to): those stay skips under CI."""
    for mark in item.iter_markers():
        if mark.name == "skip":
            return True
        if mark.name == "skipif":
            conditions = mark.args or (mark.kwargs.get("condition"),)
            if any(c is True or (not isinstance(c, str) and bool(c)) for c in conditions):
                return True
    return False


def proof_cannot_skip(item):
    """A test whose skip means missing proof: in tests/faults, or needing the offline assets."""
    in_faults = "faults" in Path(str(item.path)).relative_to(Path(__file__).parent).parts[:1]
    needs_assets = {"assets", "keras_home"} & set(getattr(item, "fixturenames", ()))
    return bool(in_faults or needs_assets)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI, a skip of a test that `proof_cannot_skip` is reported as a failure."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and proof_cannot_skip(item) and not _skipped_by_mark(item):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"CI: this proof may not be skipped ({item.nodeid}): {reason}"


@pytest.fixture
def strategy():
    """`tf.distribute.MirroredStrategy` over two logical CPU devices.

    Gradients are all-reduced with `ReductionToOneDevice`: with the default collective ops,
    a second MirroredStrategy in the same process fails with a collective shape mismatch
    (TensorFlow reuses collective instance keys across strategies).
    """
    if not ON_TENSORFLOW:
        pytest.skip("tf.distribute.MirroredStrategy needs the TensorFlow backend")
    return tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )


@pytest.fixture(scope="session")
def synthetic_image_folder(tmp_path_factory):
    """train/ 3 + 3 and val/ 2 + 2 small random JPEGs in ants/ and bees/: the layout of the
    ants-vs-bees photos for tests that only check arguments and data checks (no assets)."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("synthetic_images")
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 2)):
        for cls in ("ants", "bees"):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{cls}_{i}.jpg", "JPEG")
    return root


def pytest_ignore_collect(collection_path, config):
    """On another backend only the portable test modules are imported: the others may build
    TensorFlow-only objects at import time (parametrize lists), which refuse the backend."""
    if (
        ON_TENSORFLOW
        or collection_path.suffix != ".py"
        or not collection_path.name.startswith("test_")
    ):
        return None
    return "pytest.mark.portable" not in collection_path.read_text()
