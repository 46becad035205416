"""Dynamic-range LiteRT on real photos: top-1 agreement with Keras on ants-vs-bees validation.

MobileNetV2 (ImageNet weights from the offline Keras cache) with a logistic-regression head
fitted on its pooled features; the quantized file is run by the LiteRT interpreter in a process
that cannot import kerasopt. About 40 s on 2 cores (over a minute when they are busy).
MobileNet alpha 0.25 is not used: dynamic-range quantization moves its probabilities far more
and it agrees on fewer images (`python -m tests.export.litert_table` measures both backbones:
docs/export/results.md).
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from kerasopt.export import export_litert
from kerasopt.transfer import backbone, build_classifier
from tests.export.litert_table import logistic_head

SIZE = 224

LITERT = """
import json, sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
x = np.load(sys.argv[1])
result = {}
for path in sys.argv[2:]:
    interpreter = Interpreter(model_path=path)
    source = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(source, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(source, x)
    interpreter.invoke()
    result[path] = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).tolist()
print(json.dumps(result))
"""


def _load(folder):
    """Images resized to SIZE (bilinear, as the model's own Resizing) and labels (ants 0, bees 1)."""
    images, labels = [], []
    for label, cls in enumerate(("ants", "bees")):
        for path in sorted((folder / cls).glob("*.jpg")):
            image = tf.io.decode_jpeg(tf.io.read_file(str(path)), channels=3)
            images.append(tf.image.resize(tf.cast(image, tf.float32), (SIZE, SIZE)).numpy())
            labels.append(label)
    return np.stack(images), np.array(labels)


def test_dynamic_range_litert_agrees_on_top1(keras_home, assets, isolated, tmp_path):
    data = assets / "datasets" / "hymenoptera_data"
    if not data.is_dir():
        pytest.skip("ants-vs-bees photos absent from the offline assets")
    base = backbone("mobilenet_v2", weights="imagenet", input_shape=(SIZE, SIZE, 3))
    model = build_classifier(base, 2, dropout=0.0)
    x_train, y_train = _load(data / "train")
    x_val, y_val = _load(data / "val")
    logistic_head(model, x_train, y_train)  # deterministic: fitted to convergence, no seed
    keras_top1 = model.predict(x_val, batch_size=32, verbose=0).argmax(axis=1)
    assert (keras_top1 == y_val).mean() > 0.9  # a real classifier (chance: 0.54)

    float_path = export_litert(model, tmp_path / "float.tflite")
    dynamic_path = export_litert(model, tmp_path / "dynamic.tflite", quantize="dynamic")
    np.save(tmp_path / "x_val.npy", x_val)
    served = json.loads(isolated(LITERT, tmp_path / "x_val.npy", float_path, dynamic_path))
    float_probs, dynamic_probs = (np.array(served[str(p)]) for p in (float_path, dynamic_path))
    agreement = float((dynamic_probs.argmax(axis=1) == keras_top1).mean())
    sizes = {p.name: p.stat().st_size for p in (float_path, dynamic_path)}
    print(
        f"ants-vs-bees val: {len(y_val)} images, dynamic-range top-1 agreement {agreement:.4f}, "
        f"sizes {sizes}"
    )
    assert (float_probs.argmax(axis=1) == keras_top1).all()
    assert agreement >= 0.99
    assert (
        sizes["dynamic.tflite"] < 0.5 * sizes["float.tflite"]
    )  # int8 weights: about 4x fewer bytes
