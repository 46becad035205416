import math

import keras
import numpy as np
import pytest

from kerasopt.curriculum import ExponentialPacing, LinearPacing, RootPacing, StepPacing, get_pacing

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

T = np.arange(0, 40)


@pytest.mark.reference("curriculum.LinearPacing", "curriculum.get_pacing")
def test_linear_matches_its_closed_form():
    # Platanios et al. 2019: c(t) = min(1, t (1 - c0) / T + c0)
    for start, full_at in ((0.1, 10), (0.5, 3), (1.0, 4)):
        got = [LinearPacing(start, full_at)(int(t)) for t in T]
        np.testing.assert_allclose(
            got, np.minimum(1.0, T * (1 - start) / full_at + start), atol=1e-12
        )


@pytest.mark.reference("curriculum.RootPacing")
def test_root_matches_its_closed_form():
    # Platanios et al. 2019: c_sqrt(t) = min(1, sqrt(t (1 - c0^2) / T + c0^2)), root-p in general
    for start, full_at, p in ((0.1, 10, 2), (0.3, 7, 3), (0.2, 5, 1)):
        got = [RootPacing(start, full_at, p)(int(t)) for t in T]
        expected = np.minimum(1.0, (T * (1 - start**p) / full_at + start**p) ** (1 / p))
        np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(
        [RootPacing(0.2, 5, 1)(int(t)) for t in T], [LinearPacing(0.2, 5)(int(t)) for t in T]
    )


@pytest.mark.reference("curriculum.StepPacing")
def test_step_is_single_step_pacing():
    got = [StepPacing(0.25, 6)(int(t)) for t in T]
    np.testing.assert_array_equal(got, np.where(T < 6, 0.25, 1.0))


@pytest.mark.reference("curriculum.ExponentialPacing")
def test_exponential_is_fixed_exponential_pacing():
    # Hacohen & Weinshall 2019: min(starting_percent * inc ** floor(i / step_length), 1)
    for start, inc, step in ((0.04, 1.9, 3), (0.1, 2.0, 1), (0.5, 1.5, 2)):
        got = [ExponentialPacing(start, inc, step)(int(t)) for t in T]
        np.testing.assert_allclose(
            got, np.minimum(1.0, start * inc ** np.floor(T / step)), rtol=1e-12
        )
    pace = ExponentialPacing(0.1, 2.0, 3)
    assert pace.full_epoch() == 3 * math.ceil(math.log(1 / 0.1) / math.log(2.0))


def test_monotone_and_reach_one():
    for pace in (
        LinearPacing(0.1, 7),
        RootPacing(0.1, 7),
        StepPacing(0.1, 7),
        ExponentialPacing(0.1, 2.0, 2),
    ):
        shares = [pace(int(t)) for t in T]
        assert (
            all(0 < s <= 1 for s in shares) and np.all(np.diff(shares) >= 0) and shares[-1] == 1.0
        )


def test_config_round_trip():
    for pace in (
        LinearPacing(0.3, 4),
        RootPacing(0.2, 6, 3),
        StepPacing(0.5, 2),
        ExponentialPacing(0.1, 1.7, 4),
    ):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(pace))
        assert type(restored) is type(pace) and restored.get_config() == pace.get_config()
        assert [restored(t) for t in range(10)] == [pace(t) for t in range(10)]
    assert get_pacing("root", start=0.3).get_config() == RootPacing(0.3).get_config()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda: LinearPacing(0.0),
            ValueError,
            r"Argument `start` must be in \(0.0, 1.0\]. Received: start=0.0",
        ),
        (lambda: LinearPacing(1.2), ValueError, r"Received: start=1.2"),
        (
            lambda: LinearPacing(0.2, full_at=0),
            ValueError,
            r"Argument `full_at` must be an integer >= 1. Received: full_at=0",
        ),
        (lambda: RootPacing(0.2, power=0.5), ValueError, r"Argument `power`"),
        (
            lambda: StepPacing(0.2, step_length=1.5),
            TypeError,
            r"Argument `step_length` must be an integer",
        ),
        (
            lambda: ExponentialPacing(0.2, increase=1.0),
            ValueError,
            r"Argument `increase` must be in \(1.0, inf\)",
        ),
        (
            lambda: get_pacing("cubic"),
            ValueError,
            r"Argument `pacing` must be one of .* Received: pacing='cubic'",
        ),
        (
            lambda: LinearPacing()(-1),
            ValueError,
            r"Argument `t` must be an integer >= 0. Received: t=-1",
        ),
    ],
)
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make()
