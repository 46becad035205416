"""Multi-layer features for a linear probe: the pooled output of every stage of the backbone,
not only of its last layer.

Source: Evci, Dumoulin, Larochelle & Mozer, "Head2Toe: Utilizing Intermediate Representations
for Better Transfer Learning", ICML 2022: a linear head on features pooled from many layers of
a frozen backbone matches fine-tuning on data unlike the pretraining set, at the cost of one
forward pass. Simplified here: one global average per stage (the last layer at each spatial
resolution), concatenated; Head2Toe's group-lasso feature selection is left to the probe's
regularization (standardized features, C chosen by cross-validation). No file I/O.
"""

import keras

from kerasopt.layers.inference_mode import InferenceMode


def stage_outputs(base):
    """Names of the last layer at each spatial resolution of `base` (its stages' outputs), in
    order, the last one being the backbone's own output layer (`ZeroPadding2D` layers, which
    only pad for the next strided convolution, are passed over).

    Example:
        >>> import keras
        >>> from kerasopt.transfer.head2toe import stage_outputs
        >>> base = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, padding="same", name="a"),
        ...                          keras.layers.Conv2D(4, 3, padding="same", name="b"),
        ...                          keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c")])
        >>> stage_outputs(base)
        ['b', 'c']
    """
    names, last_size, previous = [], None, None
    for layer in base.layers:
        shape = layer.output.shape if hasattr(layer, "output") else None
        if (
            shape is None
            or len(shape) != 4
            or isinstance(layer, (keras.layers.InputLayer, keras.layers.ZeroPadding2D))
        ):
            continue  # padding before a strided convolution is no stage
        size = tuple(shape[1:3])
        if last_size is not None and size != last_size:
            names.append(previous)
        previous, last_size = layer.name, size
    if last_size is not None:
        names.append(previous)
    return names


def multi_layer_extractor(base, preprocessing_layer=None, layer_names=None):
    """A `keras.Model`: images -> the concatenated global averages of `layer_names`' outputs
    (default `stage_outputs(base)`), the backbone in inference mode.

    Args:
        base: a headless backbone (a functional or Sequential `keras.Model`).
        preprocessing_layer: None, or a layer applied to the images first (e.g.
            `kerasopt.transfer.ImagenetPreprocessing`).
        layer_names: names of layers of `base` whose outputs are pooled; None: the stages'.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.transfer.head2toe import multi_layer_extractor
        >>> base = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, padding="same", name="a"),
        ...                          keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c")])
        >>> extractor = multi_layer_extractor(base)
        >>> x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
        >>> features = np.asarray(extractor(x))
        >>> features.shape  # 4 channels of "a", then 8 of "c"
        (2, 12)
        >>> bool(np.allclose(features[:, 4:], np.asarray(base(x)).mean(axis=(1, 2)), atol=1e-5))
        True
    """
    names = list(layer_names or stage_outputs(base))
    known = {layer.name for layer in base.layers}
    unknown = [name for name in names if name not in known]
    if not names or unknown:
        raise ValueError(
            f"Argument `layer_names` must name layers of {base.name!r}. Received: layer_names={layer_names!r}"
        )
    taps = keras.Model(base.inputs, [base.get_layer(name).output for name in names], name="stages")
    images = keras.Input(shape=base.input_shape[1:], name="images")
    x = images if preprocessing_layer is None else preprocessing_layer(images)
    outputs = InferenceMode(taps, name="backbone")(x)
    pooled = [keras.layers.GlobalAveragePooling2D()(o) for o in outputs]
    joined = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate()(pooled)
    return keras.Model(images, joined, name="multi_layer_features")
