"""Sparse: exactly k non-zeros per output unit (Martens 2010), dense Gaussian when k >= fan-in."""

import keras
import numpy as np
import pytest
from scipy import stats

from kerasopt.initializers import Sparse

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.mark.parametrize("shape", [(100, 40), (3, 3, 8, 16), (5, 4, 12)])
@pytest.mark.reference("initializers.Sparse")
def test_exactly_k_nonzeros_per_output_unit(shape):
    w = np.asarray(Sparse(k=15, seed=1)(shape))
    per_unit = (w.reshape(-1, shape[-1]) != 0).sum(axis=0)
    np.testing.assert_array_equal(per_unit, np.full(shape[-1], 15))


def test_conv2d_layer_kernel_has_k_nonzeros_per_filter():
    layer = keras.layers.Conv2D(12, 3, kernel_initializer=Sparse(k=7, seed=2))
    layer.build((None, 10, 10, 5))
    w = np.asarray(layer.kernel).reshape(3 * 3 * 5, 12)
    np.testing.assert_array_equal((w != 0).sum(axis=0), np.full(12, 7))


def test_positions_are_spread_over_the_inputs():
    # Every input position is equally likely to carry a unit's weight: chi-square test.
    w = np.asarray(Sparse(k=5, seed=3)((20, 4000)))
    counts = (w != 0).sum(axis=1)
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.reference("initializers.Sparse")
def test_nonzero_values_are_gaussian_with_stddev():
    w = np.asarray(Sparse(k=10, stddev=0.5, seed=4)((300, 2000)), dtype="float64")
    nonzero = w[w != 0]
    assert nonzero.size == 10 * 2000
    assert nonzero.std() == pytest.approx(0.5, rel=0.03)
    assert stats.kstest(nonzero / 0.5, "norm").pvalue > 1e-3


def test_k_at_least_fan_in_gives_dense_gaussian():
    w = np.asarray(Sparse(k=500, stddev=2.0, seed=5)((300, 400)), dtype="float64")
    assert np.all(w != 0)
    assert w.std() == pytest.approx(2.0, rel=0.03)


def test_seeds_follow_keras_semantics():
    np.testing.assert_array_equal(Sparse(3, seed=9)((30, 10)), Sparse(3, seed=9)((30, 10)))
    init = Sparse(3, seed=keras.random.SeedGenerator(9))
    assert not np.array_equal(init((30, 10)), init((30, 10)))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"k": 0}, ValueError, "k=0"),
        ({"k": 2.5}, TypeError, "k=2.5"),
        ({"k": 3, "stddev": -1.0}, ValueError, "stddev=-1.0"),
        ({"k": 3, "seed": -4}, ValueError, "seed=-4"),
        ({"k": 3, "seed": "x"}, TypeError, "seed='x'"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Sparse(**kwargs)


def test_rank_one_shape_is_rejected():
    with pytest.raises(ValueError, match=r"shape=\(5,\)"):
        Sparse(2)((5,))
