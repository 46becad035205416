import math

import keras
import numpy as np
import pytest

from kerasopt.curriculum import CurriculumSampler, ExponentialPacing, LinearPacing, StepPacing

N = 103


def scores(seed=0):
    return np.random.default_rng(seed).permutation(N).astype("float64") * 0.37  # distinct values


@pytest.mark.portable
@pytest.mark.parametrize(
    "pacing", [LinearPacing(0.1, 6), ExponentialPacing(0.05, 2.0, 2), StepPacing(0.3, 3)]
)
@pytest.mark.reference("curriculum.CurriculumSampler")
def test_pool_sizes_and_each_pool_is_exactly_the_easiest(pacing):
    s = scores()
    sampler = CurriculumSampler(s, pacing, batch_size=10)
    for epoch in range(15):
        k = math.ceil(pacing(epoch) * N - 1e-9)
        pool = sampler.pool(epoch)
        assert len(pool) == sampler.pool_size(epoch) == k
        assert set(pool.tolist()) == set(np.argsort(s)[:k].tolist())  # the k lowest scores
        outside = np.setdiff1d(np.arange(N), pool)
        assert outside.size == 0 or s[pool].max() < s[outside].min()


@pytest.mark.portable
@pytest.mark.reference("curriculum.CurriculumSampler")
def test_anti_curriculum_takes_the_hardest_and_random_a_fixed_random_order():
    s = scores(1)
    anti = CurriculumSampler(s, LinearPacing(0.2, 4), order="anti")
    k = anti.pool_size(0)
    assert set(anti.pool(0).tolist()) == set(np.argsort(-s)[:k].tolist())
    rand = CurriculumSampler(s, LinearPacing(0.2, 4), order="random", seed=3)
    assert [rand.pool_size(e) for e in range(6)] == [anti.pool_size(e) for e in range(6)]
    assert set(rand.pool(1).tolist()) >= set(rand.pool(0).tolist())  # a growing prefix of one order
    assert set(rand.pool(0).tolist()) != set(np.argsort(s)[:k].tolist())


@pytest.mark.portable
def test_epoch_indices_repeat_the_pool_to_a_full_epoch():
    sampler = CurriculumSampler(scores(), StepPacing(0.1, 2), batch_size=16, seed=5)
    idx = sampler.epoch_indices(0)
    pool = sampler.pool(0)
    assert len(idx) == N and set(idx.tolist()) == set(pool.tolist())
    counts = np.bincount(idx, minlength=N)[pool]
    assert counts.min() >= N // len(pool) and counts.max() <= math.ceil(N / len(pool))
    assert sorted(sampler.epoch_indices(2).tolist()) == list(range(N))  # all data after the step
    np.testing.assert_array_equal(
        sampler.epoch_indices(0),
        CurriculumSampler(scores(), StepPacing(0.1, 2), 16, seed=5).epoch_indices(0),
    )


@pytest.mark.portable
@pytest.mark.reference("curriculum.CurriculumPyDataset")
def test_py_dataset_follows_the_sampler_epoch_by_epoch():
    x = np.arange(N, dtype="float32")[:, None]
    y = np.arange(N)
    sampler = CurriculumSampler(scores(), LinearPacing(0.2, 3), batch_size=8)
    ds = sampler.py_dataset(x, y)
    assert len(ds) == math.ceil(N / 8)
    for epoch in range(5):
        ds.on_epoch_begin()
        seen = np.concatenate([ds[i][1] for i in range(len(ds))])
        np.testing.assert_array_equal(seen, sampler.epoch_indices(epoch))
        ds.on_epoch_end()
    # an epoch opened only to peek at one batch (JAX's fit builds the model so) does not count
    ds.on_epoch_begin()
    peeked = ds[0][1]
    ds.on_epoch_end()
    ds.on_epoch_begin()
    np.testing.assert_array_equal(ds[0][1], peeked)
    np.testing.assert_array_equal(ds[0][1], sampler.epoch_indices(5)[:8])


def test_tf_dataset_holds_the_epochs_in_order():
    x = np.arange(N, dtype="float32")[:, None]
    y = np.arange(N)
    sampler = CurriculumSampler(scores(), ExponentialPacing(0.1, 2.0, 1), batch_size=8)
    batches = list(sampler.tf_dataset(x, y, epochs=4).as_numpy_iterator())
    assert len(batches) == 4 * sampler.steps_per_epoch
    for epoch in range(4):
        chunk = batches[epoch * sampler.steps_per_epoch : (epoch + 1) * sampler.steps_per_epoch]
        np.testing.assert_array_equal(
            np.concatenate([b[1] for b in chunk]), sampler.epoch_indices(epoch)
        )
        np.testing.assert_array_equal(
            np.concatenate([b[0] for b in chunk])[:, 0], sampler.epoch_indices(epoch)
        )


def _mean_label():
    """Metric: the mean label of the examples the train step saw this epoch."""
    return keras.metrics.MeanMetricWrapper(
        lambda y_true, y_pred: keras.ops.cast(y_true, "float32"), name="mean_label"
    )


@pytest.mark.portable
@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.reference("curriculum.CurriculumPyDataset")
def test_fit_trains_each_epoch_on_the_samplers_epoch(jit):
    """Labels are example indices, so the mean label the train step saw in fit's epoch e must
    be the mean of `sampler.epoch_indices(e)`: each epoch's pool, on every backend."""
    x = np.arange(N, dtype="float32")[:, None] / N
    y = np.arange(N).astype("float32")
    sampler = CurriculumSampler(scores(), LinearPacing(0.2, 3), batch_size=16)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=[_mean_label()], jit_compile=jit)
    history = model.fit(sampler.py_dataset(x, y), epochs=4, verbose=0)
    expected = [np.mean(sampler.epoch_indices(e)) for e in range(4)]
    assert len(set(np.round(expected, 3))) == 4  # the four pools differ
    np.testing.assert_allclose(history.history["mean_label"], expected, rtol=1e-5)
    # resuming: fit(initial_epoch=2) on a fresh dataset continues with epochs 2 and 3
    resumed = model.fit(
        sampler.py_dataset(x, y, initial_epoch=2), epochs=4, initial_epoch=2, verbose=0
    )
    np.testing.assert_allclose(resumed.history["mean_label"], expected[2:], rtol=1e-5)


def test_fit_with_the_tf_dataset():
    x = np.arange(N, dtype="float32")[:, None] / N
    y = np.arange(N).astype("float32")
    sampler = CurriculumSampler(scores(), LinearPacing(0.3, 2), batch_size=16)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=[_mean_label()])
    history = model.fit(
        sampler.tf_dataset(x, y, 3), epochs=3, steps_per_epoch=sampler.steps_per_epoch, verbose=0
    )
    expected = [np.mean(sampler.epoch_indices(e)) for e in range(3)]
    np.testing.assert_allclose(history.history["mean_label"], expected, rtol=1e-5)


@pytest.mark.portable
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"scores": [[1.0, 2.0]]}, ValueError, r"Argument `scores` must be a non-empty vector"),
        ({"scores": [1.0, np.nan]}, ValueError, r"Argument `scores`"),
        (
            {"order": "reverse"},
            ValueError,
            r"Argument `order` must be one of 'curriculum', 'anti', 'random'. Received: order='reverse'",
        ),
        (
            {"batch_size": 0},
            ValueError,
            r"Argument `batch_size` must be an integer >= 1. Received: batch_size=0",
        ),
        ({"pacing": "quadratic"}, ValueError, r"Argument `pacing`"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    args = {"scores": [1.0, 2.0, 3.0], "pacing": "linear", **kwargs}
    with pytest.raises(error, match=match):
        CurriculumSampler(**args)


@pytest.mark.portable
def test_mismatched_arrays_are_named():
    sampler = CurriculumSampler([1.0, 2.0, 3.0], "step")
    with pytest.raises(
        ValueError, match=r"Arguments `x` and `y` must hold one example per score \(3\)"
    ):
        sampler.py_dataset(np.zeros((4, 2)), np.zeros(4))


def test_plot_curriculum_writes_a_png(tmp_path):
    from kerasopt.plotting import plot_curriculum

    path = plot_curriculum(
        {"curriculum": ([0.5, 0.7], [0.01, 0.02]), "random": ([0.4, 0.6], [0.0, 0.03])},
        {"curriculum": ([0.2, 1.0], [0.0, 0.4]), "random": ([0.2, 1.0], [0.4, 0.4])},
        tmp_path / "c.png",
        title="t",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
