"""DBN: greedy stacking semantics, exact weight hand-over to the classifier and the
unrolled autoencoder, save/load of the DBN, each RBM and the classifier, validation."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from kerasopt.pretraining import DBN, BernoulliRBM, GaussianBernoulliRBM

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.fixture(scope="module")
def digits01():
    return (load_digits().data / 16.0).astype("float32")


def _pretrained(x, **kwargs):
    dbn = DBN([24, 12], seed=0, **kwargs)
    dbn.pretrain(x, epochs=2, batch_size=64, verbose=0, shuffle=False)
    return dbn


@pytest.mark.reference("pretraining.DBN")
def test_each_rbm_is_trained_on_the_previous_hidden_probabilities(digits01):
    dbn = _pretrained(digits01)
    first = BernoulliRBM(24, seed=0)
    first.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5))
    first.fit(digits01, epochs=2, batch_size=64, verbose=0, shuffle=False)
    second = BernoulliRBM(12, seed=1)
    second.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5))
    second.fit(first.transform(digits01), epochs=2, batch_size=64, verbose=0, shuffle=False)
    for ours, manual in zip(dbn.rbms, (first, second), strict=True):
        np.testing.assert_allclose(np.array(ours.kernel), np.array(manual.kernel), atol=1e-6)
    expected = 1 / (
        1
        + np.exp(
            -(first.transform(digits01) @ np.array(second.kernel) + np.array(second.hidden_bias))
        )
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dbn(digits01)), expected, atol=1e-5)


def test_visible_units_follow_the_data(digits01):
    assert type(_pretrained(digits01).rbms[0]) is BernoulliRBM
    standardized = (digits01 - digits01.mean(0)) / (digits01.std(0) + 1e-3)
    dbn = _pretrained(standardized)
    assert dbn.visible == "gaussian"
    assert [type(r) for r in dbn.rbms] == [GaussianBernoulliRBM, BernoulliRBM]
    assert dbn.to_autoencoder().layers[-1].get_config()["activation"] == "linear"


@pytest.mark.reference("pretraining.DBN")
def test_classifier_and_autoencoder_hold_exactly_the_rbm_weights(digits01):
    dbn = _pretrained(digits01)
    clf = dbn.to_classifier(10, seed=0)
    assert len(clf.layers) == 3 and clf.output_shape == (None, 10)
    for dense, rbm in zip(clf.layers[:2], dbn.rbms, strict=True):
        kernel, bias = dense.get_weights()
        np.testing.assert_array_equal(kernel, np.array(rbm.kernel))
        np.testing.assert_array_equal(bias, np.array(rbm.hidden_bias))
        assert dense.get_config()["activation"] == "sigmoid"
    np.testing.assert_array_equal(clf.layers[2].get_weights()[1], np.zeros(10))
    ae = dbn.to_autoencoder()
    assert ae.output_shape == (None, 64) and len(ae.layers) == 4
    for dense, rbm in zip(ae.layers[2:], reversed(dbn.rbms), strict=True):
        kernel, bias = dense.get_weights()
        np.testing.assert_array_equal(kernel, np.array(rbm.kernel).T)
        np.testing.assert_array_equal(bias, np.array(rbm.visible_bias))


def test_dbn_rbms_and_classifier_survive_save_load(tmp_path, digits01):
    dbn = _pretrained(digits01, monitor_fraction=0.5)
    assert [rbm.monitor_fraction for rbm in dbn.rbms] == [0.5, 0.5]
    dbn.save(tmp_path / "dbn.keras")
    loaded = keras.models.load_model(tmp_path / "dbn.keras")
    assert loaded.get_config() == dbn.get_config()
    assert loaded.get_config()["monitor_fraction"] == 0.5
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(digits01)), keras.ops.convert_to_numpy(dbn(digits01))
    )
    x = digits01
    for i, rbm in enumerate(dbn.rbms):
        rbm.save(tmp_path / f"rbm{i}.keras")
        again = keras.models.load_model(tmp_path / f"rbm{i}.keras")
        np.testing.assert_array_equal(again.transform(x), rbm.transform(x))
        x = rbm.transform(x)
    clf = dbn.to_classifier(10, seed=0)
    clf.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    clf.fit(digits01, load_digits().target, epochs=1, verbose=0)
    clf.save(tmp_path / "clf.keras")
    restored = keras.models.load_model(tmp_path / "clf.keras")
    np.testing.assert_array_equal(
        restored.predict(digits01, verbose=0), clf.predict(digits01, verbose=0)
    )


def test_argument_validation(digits01):
    with pytest.raises(ValueError, match=r"hidden_sizes=\[\]"):
        DBN([])
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\]"):
        DBN([4, 0])
    with pytest.raises(ValueError, match="visible='binary'"):
        DBN([4], visible="binary")
    with pytest.raises(ValueError, match="k=0"):
        DBN([4], k=0)
    with pytest.raises(ValueError, match="monitor_fraction=0"):
        DBN([4], monitor_fraction=0)
    with pytest.raises(ValueError, match="pretrain"):
        DBN([4], visible="bernoulli").to_classifier(10)
    with pytest.raises(ValueError, match="epochs=0"):
        DBN([4]).pretrain(digits01, epochs=0)
    with pytest.raises(ValueError, match="n_classes=1"):
        _pretrained(digits01).to_classifier(1)


@pytest.mark.reference("plotting.plot_filters")
def test_plot_filters_writes_a_png_and_checks_the_shape(tmp_path):
    from kerasopt.plotting import plot_filters

    weights = np.random.default_rng(0).normal(size=(64, 20))
    path = plot_filters(weights, tmp_path / "filters.png", (8, 8), n_filters=16, ncols=4, title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"shape \(64, 20\)"):
        plot_filters(weights, tmp_path / "bad.png", (28, 28))
