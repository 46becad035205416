"""Ship a fine-tuned model or a snapshot ensemble: TF Serving SavedModel, ONNX, LiteRT.

- `serving_model`: the raw-images-in, probabilities-out graph every format is made from.
- `export_saved_model`: `NAME/VERSION/` for TensorFlow Serving, with a named signature.
- `export_onnx`: an `.onnx` file for ONNX Runtime (Keras' exporter, tf2onnx underneath).
- `export_litert`: a `.tflite` file, float32 or dynamic-range quantized.
- `LAYER_SUPPORT`, `support_table`, `ExportError`: which kerasopt layers export, and the
  error naming the layer when a conversion fails.
- `load_run`: the Keras model and class names of a fine-tune run folder.
- `load_predictor`, `Predictor`, `find_images`, `read_images`, `predict_files`: batch prediction with a run
  folder or any exported file (`python -m recipes.predict`).

The ONNX and LiteRT runtimes are optional: `pip install kerasopt[export]`.
"""

from kerasopt.export.layer_support import LAYER_SUPPORT, ExportError, support_table
from kerasopt.export.litert import export_litert
from kerasopt.export.onnx import export_onnx
from kerasopt.export.predict import find_images, predict_files, read_images
from kerasopt.export.runtime import Predictor, load_predictor, load_run
from kerasopt.export.saved_model import export_saved_model
from kerasopt.export.serving import serving_model

__all__ = [
    "LAYER_SUPPORT",
    "ExportError",
    "Predictor",
    "export_litert",
    "export_onnx",
    "export_saved_model",
    "find_images",
    "load_predictor",
    "load_run",
    "predict_files",
    "read_images",
    "serving_model",
    "support_table",
]
