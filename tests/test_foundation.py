"""The package skeleton, the shared helpers and the shared second-order math."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import kerasopt
from kerasopt import _io, _validation, diagnostics

NAMESPACES = [
    "initializers",
    "optimizers",
    "schedules",
    "callbacks",
    "layers",
    "ensembles",
    "pretraining",
    "transfer",
    "diagnostics",
    "plotting",
    "second_order",
    "distill",
    "curriculum",
]


def test_version_and_namespaces():
    assert isinstance(kerasopt.__version__, str) and kerasopt.__version__.count(".") == 2
    for name in NAMESPACES:
        assert hasattr(kerasopt, name), name


def test_version_matches_installed_metadata():
    from importlib.metadata import version

    assert version("kerasopt") == kerasopt.__version__


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: _validation.check_range("phi", 1.5, 0, 1, high_inclusive=False),
            "Argument `phi` must be in [0, 1). Received: phi=1.5",
        ),
        (
            lambda: _validation.check_int("k", 0, minimum=1),
            "Argument `k` must be an integer >= 1. Received: k=0",
        ),
        (
            lambda: _validation.check_choice("mode", "x", ("a", "b")),
            "Argument `mode` must be one of 'a', 'b'. Received: mode='x'",
        ),
        (lambda: _validation.check_pair("scale", (0.9, 0.1)), "Received: scale=(0.9, 0.1)"),
        (lambda: _validation.check_positive("lr", -1.0), "Received: lr=-1.0"),
    ],
)
def test_validation_messages_name_argument_and_value(call, message):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert message in str(info.value)


def test_validation_type_errors():
    with pytest.raises(TypeError, match="Received: k=2.5"):
        _validation.check_int("k", 2.5)
    with pytest.raises(TypeError, match="Received: lr=True"):
        _validation.check_number("lr", True)


def test_atomic_write_leaves_target_untouched_on_error(tmp_path):
    target = tmp_path / "m.json"
    _io.write_json(target, {"a": np.float32(1.5)})
    assert json.loads(target.read_text()) == {"a": 1.5}
    with pytest.raises(RuntimeError):
        with _io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"a": 1.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


@pytest.mark.reference("plotting.new_figure", "plotting.save_figure")
def test_plotting_writes_png_without_pyplot(tmp_path):
    fig, ax = kerasopt.plotting.new_figure()
    ax.plot([0, 1], [1, 0])
    path = kerasopt.plotting.save_figure(fig, tmp_path / "a" / "line.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="Received: path="):
        kerasopt.plotting.save_figure(fig, tmp_path / "x.jpg")


@pytest.mark.reference("diagnostics.model_loss_fn")
def test_model_loss_fn_includes_regularization():
    import keras

    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(0.1))]
    )
    model.compile(loss="mse")
    x = np.ones((4, 3), "float32")
    y = np.zeros((4, 1), "float32")
    kernel = model.layers[0].kernel.numpy()
    expected = np.mean((x @ kernel) ** 2) + 0.1 * np.sum(kernel**2)
    np.testing.assert_allclose(
        diagnostics.model_loss_fn(model, x, y)().numpy(), expected, rtol=1e-5
    )
    with pytest.raises(ValueError, match="must be compiled"):
        diagnostics.model_loss_fn(
            keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]), x, y
        )


def test_two_logical_cpus(strategy):
    assert strategy.num_replicas_in_sync == 2


def test_offline_keras_home_works_after_keras_is_imported(assets, tmp_path):
    """`kerasopt.cli` imports Keras (through `import kerasopt`) before it can copy the offline
    cache, so the copy must still be where `keras.applications` looks: real weights load with
    no network and no KERAS_HOME set by the user."""
    code = (
        "import sys, keras\n"
        "from kerasopt.cli._offline import use_offline_keras_home\n"
        f"home = use_offline_keras_home({str(assets)!r})\n"
        "m = keras.applications.MobileNet(alpha=0.25, weights='imagenet', include_top=False,"
        " input_shape=(96, 96, 3))\n"
        "print(home is not None, m.count_params())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_HOME"}
    env["HOME"] = str(tmp_path)  # no ~/.keras cache to fall back on
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # 218,544 parameters: the assets README's count for MobileNet 0.25 without its top
    assert out.stdout.split()[-2:] == ["True", "218544"]
