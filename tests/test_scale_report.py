"""diagnostics.scale_report against a NumPy forward/backward pass; plotting.plot_scale_report."""

import keras
import numpy as np
import pytest

from kerasopt.diagnostics import scale_report
from kerasopt.plotting import plot_scale_report

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


def _model():
    rng = np.random.default_rng(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6, activation="relu", name="relu"),
            keras.layers.Dense(3, activation="tanh", name="tanh"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    w1 = rng.normal(size=(4, 6)).astype("float32")
    b1 = rng.normal(size=6).astype("float32")
    w1[:, :2], b1[:2] = 0.0, -1.0  # units 0 and 1 are dead on every input
    w2 = (3.0 * rng.normal(size=(6, 3))).astype("float32")  # large: tanh saturates
    w3, b3 = rng.normal(size=(3, 2)).astype("float32"), np.zeros(2, "float32")
    model.set_weights([w1, b1, w2, np.zeros(3, "float32"), w3, b3])
    model.compile(loss="mse")
    return model, (w1, b1, w2, w3, b3)


@pytest.mark.reference("diagnostics.scale_report")
def test_statistics_match_numpy():
    model, (w1, b1, w2, w3, b3) = _model()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    report = scale_report(model, x, y)

    h1 = np.maximum(x @ w1 + b1, 0.0)
    h2 = np.tanh(h1 @ w2)
    out = h2 @ w3 + b3
    g_out = 2.0 * (out - y) / out.size  # d mean((out - y)^2) / d out
    g_h2 = g_out @ w3.T
    g_w3 = h2.T @ g_out

    assert [r["layer"] for r in report] == ["relu", "tanh", "out"]
    relu, tanh, last = report
    assert relu["mean"] == pytest.approx(h1.mean(), rel=1e-4)
    assert relu["std"] == pytest.approx(h1.std(), rel=1e-4)
    assert relu["dead_fraction"] == pytest.approx(np.mean(np.all(h1 == 0, axis=0)))
    assert relu["dead_fraction"] >= 2 / 6
    assert relu["saturated_fraction"] is None
    assert tanh["saturated_fraction"] == pytest.approx(np.mean(np.abs(h2) > 0.99))
    assert tanh["saturated_fraction"] > 0
    assert tanh["dead_fraction"] is None
    assert last["std"] == pytest.approx(out.std(), rel=1e-4)
    assert last["grad_std"] == pytest.approx(g_out.std(), rel=1e-4)
    assert tanh["grad_std"] == pytest.approx(g_h2.std(), rel=1e-4)
    assert last["kernel_grad_std"] == pytest.approx(g_w3.std(), rel=1e-4)


def test_without_labels_has_no_gradients():
    model, _ = _model()
    report = scale_report(model, np.ones((8, 4), "float32"))
    assert "grad_std" not in report[0]


def test_needs_a_compiled_model_for_gradients():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="compiled"):
        scale_report(model, np.ones((2, 4), "float32"), np.ones((2, 2), "float32"))
    with pytest.raises(ValueError, match="model="):
        scale_report("model", np.ones((2, 4), "float32"))


@pytest.mark.reference("plotting.plot_scale_report")
def test_plot_writes_png(tmp_path):
    model, _ = _model()
    x = np.random.default_rng(2).normal(size=(16, 4)).astype("float32")
    report = scale_report(model, x, np.zeros((16, 2), "float32"))
    path = plot_scale_report(report, tmp_path / "scale.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="report="):
        plot_scale_report([], tmp_path / "empty.png")
