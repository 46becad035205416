"""Each format served in a process that cannot import kerasopt, against Keras' own outputs."""

import json

import numpy as np
import pytest

from kerasopt.export import export_litert, export_onnx, export_saved_model
from tests.export._models import raw_images, tiny_classifier

SAVED_MODEL = """
import sys, numpy as np, tensorflow as tf
for folder, inputs, output in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    served = tf.saved_model.load(folder).signatures["serving_default"]
    np.save(output, served(images=tf.constant(np.load(inputs)))["probabilities"].numpy())
"""

ONNX = """
import sys, numpy as np, onnxruntime
for path, inputs, output in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    np.save(output, session.run(None, {"images": np.load(inputs)})[0])
"""

LITERT = """
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
for path, inputs, output in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    x = np.load(inputs)
    interpreter = Interpreter(model_path=path)
    source = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(source, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(source, x)
    interpreter.invoke()
    np.save(output, interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
"""

FORMATS = {
    "saved_model": (lambda m, d: export_saved_model(m, d / "served"), SAVED_MODEL),
    "onnx": (lambda m, d: export_onnx(m, d / "model.onnx"), ONNX),
    "litert": (lambda m, d: export_litert(m, d / "model.tflite"), LITERT),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.reference("export.export_saved_model", "export.export_onnx", "export.export_litert")
def test_single_model_and_3_member_ensemble_match_keras(fmt, ensemble3, isolated, tmp_path):
    export, script = FORMATS[fmt]
    args, expected = [], {}
    for name, model in (("single", tiny_classifier()), ("ensemble", ensemble3)):
        folder = tmp_path / name
        folder.mkdir()
        path = export(model, folder)
        for size in ((23, 31), (16, 16)):  # any image size, including the model's own
            x = raw_images(5, *size, seed=size[0])
            key = f"{name}_{size[0]}"
            np.save(tmp_path / f"{key}_x.npy", x)
            args += [path, tmp_path / f"{key}_x.npy", tmp_path / f"{key}_y.npy"]
            expected[key] = model.predict(x, verbose=0)
    isolated(script, *args)
    for key, keras_out in expected.items():
        served = np.load(tmp_path / f"{key}_y.npy")
        assert served.shape == keras_out.shape
        np.testing.assert_allclose(served, keras_out, atol=1e-4, rtol=0, err_msg=key)
        np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)


def test_exports_record_class_names(tmp_path):
    model = tiny_classifier(n_classes=2)
    names = ["ants", "bees"]
    folder = export_saved_model(model, tmp_path / "served", class_names=names)
    export_onnx(model, tmp_path / "m.onnx", class_names=names)
    meta = json.loads((folder / "assets.extra" / "kerasopt.json").read_text())
    assert meta["class_names"] == names and meta["image_size"] == [16, 16]
    assert json.loads((tmp_path / "m.onnx.json").read_text())["class_names"] == names
    with pytest.raises(ValueError, match="class_names"):
        export_onnx(model, tmp_path / "bad.onnx", class_names=["a", "b", "c"])
