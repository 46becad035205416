import keras
import numpy as np
import pytest

from kerasopt.optimizers import recompute_batchnorm


@pytest.mark.portable
@pytest.mark.reference("optimizers.recompute_batchnorm")
def test_moving_statistics_become_the_mean_of_per_batch_statistics():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(100, 3)).astype("float32")
    bn = keras.layers.BatchNormalization(momentum=0.9)
    model = keras.Sequential([keras.Input((3,)), bn, keras.layers.Dense(2)])
    dense_before = [w.copy() for w in model.layers[1].get_weights()]
    assert recompute_batchnorm(model, (x, None), batch_size=32) == 4
    batches = [x[i : i + 32] for i in range(0, 100, 32)]
    np.testing.assert_allclose(
        bn.moving_mean.numpy(), np.mean([b.mean(0) for b in batches], 0), atol=1e-5
    )
    np.testing.assert_allclose(
        bn.moving_variance.numpy(), np.mean([b.var(0) for b in batches], 0), atol=1e-4
    )
    assert bn.momentum == 0.9
    for a, b in zip(model.layers[1].get_weights(), dense_before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_dataset_input_and_models_without_batchnorm():
    import tensorflow as tf

    x = np.random.default_rng(1).normal(size=(40, 3)).astype("float32")
    bn = keras.layers.BatchNormalization()
    model = keras.Sequential([keras.Input((3,)), bn])
    assert recompute_batchnorm(model, tf.data.Dataset.from_tensor_slices((x, x)).batch(40)) == 1
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(0), atol=1e-5)
    assert recompute_batchnorm(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]), x) == 0


@pytest.mark.portable
def test_argument_validation():
    with pytest.raises(TypeError, match="`model`"):
        recompute_batchnorm("model", np.zeros((2, 2)))
    model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
    with pytest.raises(ValueError, match="`batch_size`.*batch_size=0"):
        recompute_batchnorm(model, np.zeros((2, 3)), batch_size=0)
    with pytest.raises(ValueError, match="`data`"):
        recompute_batchnorm(model, np.zeros((0, 3)))
