"""A wrapper that runs a layer (a backbone) in inference mode inside a training model.

Source: Keras' transfer-learning guide (Chollet), "call the base model in inference mode";
Ioffe & Szegedy, "Batch Normalization", ICML 2015 (the moving statistics).
"""

import keras


@keras.saving.register_keras_serializable(package="kerasopt")
class InferenceMode(keras.layers.Wrapper):
    """Calls the wrapped layer with `training=False`, whatever mode the outer model runs in.

    Needed in Keras 3: a functional model passes its own `training` value to every layer that
    accepts one, overriding a `training=False` written when the graph was built, so
    `backbone(x, training=False)` alone does not keep a trainable backbone's BatchNormalization
    in inference mode during `fit`. Source: Keras' transfer-learning guide (Chollet), "call the
    base model in inference mode"; Ioffe & Szegedy, 2015, for the moving statistics.

    Example:
        >>> import keras, numpy as np
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv"),
        ...                          keras.layers.BatchNormalization(name="bn")], name="base")
        >>> from kerasopt.layers import InferenceMode
        >>> wrapped = InferenceMode(base)
        >>> x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
        >>> bool(np.allclose(wrapped(x, training=True), base(x, training=False)))  # BN on moving statistics
        True

    References:
        Ioffe & Szegedy, "Batch Normalization", ICML 2015; Keras' transfer-learning guide.
    """

    def call(self, inputs):
        return self.layer(inputs, training=False)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)
