"""Test harness: offline assets, a temporary KERAS_HOME, two logical CPUs (TensorFlow backend
only), fixed seeds.

Runs before any test module imports Keras, because Keras reads KERAS_HOME at import.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from kerasopt.cli._offline import find_assets, use_offline_keras_home  # noqa: E402  (keras-free)

ASSETS = find_assets()
use_offline_keras_home(ASSETS)

import pytest  # noqa: E402

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


@pytest.fixture(scope="session")
def assets():
    """Path of the offline assets; skips the test (with the reason) when they are absent."""
    if ASSETS is None:
        pytest.skip(
            "offline assets not found: set KERASOPT_ASSETS or place them at ../shared/assets"
        )
    return ASSETS


@pytest.fixture(scope="session")
def keras_home(assets):
    """The temporary KERAS_HOME holding a copy of the offline Keras cache."""
    home = os.environ.get("KERAS_HOME")
    if not home or not os.path.isdir(os.path.join(home, "models")):
        pytest.skip("no Keras cache: the offline assets have no keras_home/ folder")
    return home


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
