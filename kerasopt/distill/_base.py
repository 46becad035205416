"""What the Distiller and the HintTrainer share: a model whose loss is fixed by its class."""

import keras

from kerasopt._backend import require_tensorflow

# Their train steps take gradients with tf.GradientTape (a port to compute_loss is pending).
ALTERNATIVE = (
    "keras.Model.fit on the student with a loss built from "
    "kerasopt.distill.distillation_loss / hint_loss"
)


def num_replicas():
    """Replicas of the current `tf.distribute` strategy (1 outside one); TensorFlow backend."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


class FixedLossModel(keras.Model):
    """`compile` refuses a `loss`; the compile config round-trips through `.keras` files."""

    def compile(self, optimizer="rmsprop", metrics=None, **kwargs):
        """`keras.Model.compile` without a `loss` (the model's class fixes its loss)."""
        require_tensorflow(f"kerasopt.distill.{type(self).__name__}", ALTERNATIVE)
        if kwargs.get("loss") is not None:
            raise ValueError(
                f"Argument `loss` must be None: {type(self).__name__} computes its own loss. "
                f"Received: loss={kwargs['loss']!r}"
            )
        kwargs.pop("loss", None)
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)

    @property
    def trained_weights(self):
        """The weights `train_step` updates (subclasses narrow this)."""
        return self.trainable_weights

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trained_weights)
