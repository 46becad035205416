"""What the Distiller and the HintTrainer share: a model whose loss is fixed by its class.

Both override `compute_loss` (the Keras 3 way) and keep Keras' own `train_step`, so they train
on every backend, under `jit_compile=True` and under `tf.distribute` on TensorFlow.
"""

import keras
from keras import ops

from kerasopt._backend import is_tensorflow


def replica_share(loss):
    """`loss` divided by the replicas of the current `tf.distribute` strategy (TensorFlow; 1
    replica elsewhere): gradients are summed over replicas, so each contributes its share of
    the mean, as Keras' own losses do."""
    if is_tensorflow():
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss * ops.cast(1.0 / replicas, loss.dtype)
    return loss


class FixedLossModel(keras.Model):
    """`compile` refuses a `loss`; the compile config round-trips through `.keras` files."""

    def compile(self, optimizer="rmsprop", metrics=None, **kwargs):
        """`keras.Model.compile` without a `loss` (the model's class fixes its loss)."""
        if kwargs.get("loss") is not None:
            raise ValueError(
                f"Argument `loss` must be None: {type(self).__name__} computes its own loss. "
                f"Received: loss={kwargs['loss']!r}"
            )
        kwargs.pop("loss", None)
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)

    @property
    def trained_weights(self):
        """The weights training updates (the model's trainable weights)."""
        return self.trainable_weights

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trained_weights)
