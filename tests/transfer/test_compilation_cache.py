"""JAX's persistent compilation cache (`device.enable_compilation_cache`): a second identical run
in a fresh process compiles nothing. Compiles and cache hits are counted with JAX's own
monitoring events ('/jax/compilation_cache/cache_misses', '/cache_hits')."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")

RUN = textwrap.dedent(
    """
    import collections, json, sys
    import jax, keras, numpy as np
    from kerasopt.transfer.device import enable_compilation_cache

    counts = collections.Counter()
    jax.monitoring.register_event_listener(lambda event, **kwargs: counts.update([event]))
    enable_compilation_cache(sys.argv[1])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", jit_compile=True)
    x, y = np.ones((8, 6), "float32"), np.zeros(8, "int32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.evaluate(x, y, batch_size=4, verbose=0)
    print(json.dumps({key.rsplit("/", 1)[1]: value for key, value in counts.items()}))
    """
)


def _run(folder):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(folder)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_identical_run_compiles_nothing(tmp_path):
    first, second = _run(tmp_path / "cache"), _run(tmp_path / "cache")
    assert first.get("cache_misses", 0) >= 2 and first.get("cache_hits", 0) == 0  # train + test
    assert second.get("cache_misses", 0) == 0
    assert second.get("cache_hits", 0) == first["cache_misses"]
    assert any((tmp_path / "cache").iterdir())
