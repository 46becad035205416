"""The export guide's LiteRT table (docs/guides/export.md): file size and top-1 agreement with
Keras of the float32 and the dynamic-range LiteRT file, on the 153 ants-vs-bees validation
photos, for MobileNetV2 (alpha 1.0) and MobileNet alpha 0.25. Each backbone gets the head
`tests/export/test_litert_quantized.py` gives MobileNetV2: scikit-learn's logistic regression
fitted to convergence on the frozen backbone's pooled features of `train/` (deterministic).

    KERASOPT_ASSETS=../shared/assets python -m tests.export.litert_table [FOLDER]

writes FOLDER/results.{json,md} (default docs/export/) with the commit and command that made
it. Sizes and agreement are not timings: the machine's load does not change them.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

BACKBONES = (("mobilenet_v2", 1.0), ("mobilenet", 0.25))
MB = 1e6  # bytes


def logistic_head(model, x_train, y_train):
    """Set a 2-class `build_classifier` model's head to scikit-learn's logistic regression
    fitted to convergence on the frozen backbone's pooled features (deterministic, no seed),
    as softmax over the logits (0, w.x + b)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from kerasopt.transfer import feature_extractor

    features = feature_extractor(model)
    fit = LogisticRegression(max_iter=5000).fit(features.predict(x_train, verbose=0), y_train)
    kernel = np.stack([np.zeros_like(fit.coef_[0]), fit.coef_[0]], axis=1)
    model.get_layer("head").set_weights(
        [kernel.astype("float32"), np.array([0.0, fit.intercept_[0]], "float32")]
    )


def measure(name, alpha, data, folder):
    """One table row: sizes (MB) and top-1 agreement of both LiteRT files with Keras."""
    import numpy as np

    from kerasopt.export import export_litert
    from kerasopt.transfer import backbone, build_classifier
    from tests.export.test_litert_quantized import LITERT, SIZE, _load

    base = backbone(name, weights="imagenet", input_shape=(SIZE, SIZE, 3), alpha=alpha)
    model = build_classifier(base, 2, dropout=0.0)
    logistic_head(model, *_load(data / "train"))
    x_val, _ = _load(data / "val")
    keras_probs = model.predict(x_val, batch_size=32, verbose=0)
    paths = {
        "float32": export_litert(model, folder / f"{name}_float.tflite"),
        "dynamic": export_litert(model, folder / f"{name}_dynamic.tflite", quantize="dynamic"),
    }
    np.save(folder / "x_val.npy", x_val)
    served = json.loads(
        subprocess.run(
            [sys.executable, "-c", LITERT, str(folder / "x_val.npy"), *map(str, paths.values())],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    row = {"backbone": name, "alpha": alpha, "images": len(x_val)}
    for kind, path in paths.items():
        probs = np.array(served[str(path)])
        agree = int((probs.argmax(axis=1) == keras_probs.argmax(axis=1)).sum())
        row[kind] = {
            "bytes": path.stat().st_size,
            "MB": round(path.stat().st_size / MB, 2),
            "agree": agree,
            "agreement": round(agree / len(x_val), 4),
            "max_probability_change": round(float(np.abs(probs - keras_probs).max()), 4),
        }
        print(name, kind, row[kind], flush=True)
    return row


def table(rows, provenance):
    lines = [
        "# LiteRT files against Keras on ants vs bees",
        "",
        f"{provenance} The 153 `val/` photos of the offline ants-vs-bees set; a logistic-regression "
        "head fitted on the frozen backbone's features of `train/`; MB = 10^6 bytes; agreement: "
        "the LiteRT file's top-1 class equals Keras' `predict`.",
        "",
        "| backbone | float32 file | dynamic-range file | top-1 agreement, float32 | "
        "top-1 agreement, dynamic-range | largest probability change, dynamic-range |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        f, d = row["float32"], row["dynamic"]
        lines.append(
            f"| {row['backbone']} (alpha {row['alpha']}) | {f['MB']:.2f} MB | {d['MB']:.2f} MB | "
            f"{f['agree']}/{row['images']} | {d['agree']}/{row['images']} "
            f"({100 * d['agreement']:.1f}%) | {d['max_probability_change']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(folder="docs/export"):
    assets = find_assets()
    if assets is None:
        raise SystemExit("error: offline assets not found: set KERASOPT_ASSETS")
    use_offline_keras_home(assets)  # before Keras is imported
    from benchmarks._machine import describe, provenance
    from kerasopt._io import write_json, write_text

    machine = describe()
    data = assets / "datasets" / "hymenoptera_data"
    with tempfile.TemporaryDirectory() as scratch:
        rows = [measure(name, alpha, data, Path(scratch)) for name, alpha in BACKBONES]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "results.json", {"machine": machine, "rows": rows})
    write_text(folder / "results.md", table(rows, provenance(machine)))


if __name__ == "__main__":
    main(*sys.argv[1:])
