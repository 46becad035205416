"""The automatic strategy: how much of the backbone to unfreeze and for how long, decided from
measurements of the data; and class weights for unbalanced classes.

Source: the course's transfer-learning table (similar/different to ImageNet x small/large
data, after CS231n "Transfer Learning"; Yosinski et al., 2014), made measurable. "Similar" is
not asked of the user but measured:

- the linear probe (phase 1's head on cached frozen features): its validation error relative
  to chance, `residual = (1 - probe_val_accuracy) / (1 - 1 / n_classes)` (0 = perfect,
  1 = chance). Features that already separate the classes mean the data is close to what the
  backbone learnt (Kornblith et al., "Do Better ImageNet Models Transfer Better?", 2019, use
  the same probe);
- image statistics (`kerasopt.transfer.features.image_statistics`): grayscale images
  (colourfulness below `GRAYSCALE`) or blurry ones (sharpness below `BLURRY`) are unlike
  ImageNet's colour photos whatever the probe says (MNIST digits give a good probe, yet a
  fine-tuned network does far better);
- the probe's train/validation gap, class count and dataset size.

Decision (every threshold a module constant, recorded with the measurements):

- similar (residual < `SIMILAR_RESIDUAL`, colour, sharp): small data -> "head" (the course's
  linear classifier; phase 2 would only risk overfitting for a point at most), large ->
  "top" (top 10%);
- different and small (< `LARGE_DATASET` images) -> "several" (top 30%), or "many" (the whole
  backbone) when the probe is far from the data (residual >= `FAR_RESIDUAL`) or the images are
  grayscale or blurry; different and large -> "many".

Phase 2's epochs are those of the chosen preset, capped afterwards by the time budget
(`kerasopt.transfer.budget`). No file I/O.
"""

import dataclasses

import numpy as np

from kerasopt._validation import check_int, check_range
from kerasopt.transfer.strategy import PRESETS

SIMILAR_RESIDUAL = 0.15
FAR_RESIDUAL = 0.4
GRAYSCALE = 0.02
BLURRY = 0.12
LARGE_DATASET = 1000
IMBALANCE = 1.5


@dataclasses.dataclass(frozen=True)
class AutoDecision:
    """What `decide` chose (`strategy`, a `FineTuneStrategy`), why (`reasons`) and from which
    `measurements`.

    Args:
        strategy: the chosen `FineTuneStrategy`.
        measurements: the figures it was chosen from (probe accuracies, residual, sizes,
            image statistics).
        reasons: short phrases, in order, saying why.

    Example:
        >>> from kerasopt.transfer.auto import AutoDecision
        >>> from kerasopt.transfer import preset
        >>> AutoDecision(preset("head"), {"residual": 0.1}, ["similar"]).strategy.name
        'head'
    """

    strategy: object
    measurements: dict
    reasons: list

    def summary(self):
        """One line: the preset and the measurements behind it."""
        shown = ", ".join(f"{k}={v}" for k, v in self.measurements.items())
        return f"auto strategy -> {self.strategy.name} ({'; '.join(self.reasons)}) [{shown}]"


def decide(probe_train_accuracy, probe_val_accuracy, n_classes, n_train, image_stats, **overrides):
    """The `AutoDecision` for data with these measurements (see the module docstring).

    Args:
        probe_train_accuracy: accuracy of the linear probe (phase 1's head) on the training set.
        probe_val_accuracy: its accuracy on the validation set.
        n_classes: number of classes (>= 2).
        n_train: number of training images (>= 1).
        image_stats: `image_statistics` of the training images (colourfulness, sharpness).
        **overrides: FineTuneStrategy fields to replace in the chosen preset.

    Returns:
        An `AutoDecision`.

    Example:
        >>> from kerasopt.transfer.auto import decide
        >>> photos = {"colourfulness": 0.08, "sharpness": 0.3}
        >>> decide(1.0, 0.95, 2, 245, photos).strategy.name  # residual 0.1: similar, small
        'head'
        >>> decide(1.0, 0.70, 2, 245, photos).strategy.name  # residual 0.6: far
        'many'
        >>> decide(0.99, 0.96, 10, 5000, {"colourfulness": 0.0, "sharpness": 0.3}).strategy.name
        'many'

    References:
        Yosinski et al., "How transferable are features in deep neural networks?", NeurIPS 2014;
        Kornblith, Shlens & Le, "Do Better ImageNet Models Transfer Better?", CVPR 2019.
    """
    check_range("probe_train_accuracy", probe_train_accuracy, 0, 1)
    check_range("probe_val_accuracy", probe_val_accuracy, 0, 1)
    check_int("n_classes", n_classes, minimum=2)
    check_int("n_train", n_train, minimum=1)
    residual = (1.0 - probe_val_accuracy) / (1.0 - 1.0 / n_classes)
    gray = image_stats["colourfulness"] < GRAYSCALE
    blurry = image_stats["sharpness"] < BLURRY
    large = n_train >= LARGE_DATASET
    reasons = [
        f"probe error {residual:.2f} of chance's",
        *(["grayscale images"] if gray else []),
        *(["blurry images"] if blurry else []),
        f"{'large' if large else 'small'} data ({n_train} images)",
    ]
    similar = residual < SIMILAR_RESIDUAL and not gray and not blurry
    if similar:
        name = "top" if large else "head"
        reasons.insert(0, "similar to ImageNet")
    else:
        far = residual >= FAR_RESIDUAL or gray or blurry
        name = "many" if large or far else "several"
        reasons.insert(0, "different from ImageNet")
    measurements = {
        "probe_train_accuracy": round(float(probe_train_accuracy), 4),
        "probe_val_accuracy": round(float(probe_val_accuracy), 4),
        "probe_gap": round(float(probe_train_accuracy - probe_val_accuracy), 4),
        "residual": round(float(residual), 4),
        "n_classes": n_classes,
        "n_train": n_train,
        **image_stats,
    }
    strategy = dataclasses.replace(PRESETS[name], **overrides)
    return AutoDecision(strategy, measurements, reasons)


def class_weights(labels, n_classes, mode="auto"):
    """Per-class loss weights: w_c = n / (K * n_c) ("balanced", King & Zeng, 2001; the formula
    of scikit-learn's `compute_class_weight("balanced")`), n training images, K classes, n_c
    images of class c. The weighted loss then counts every class as if it had n / K images.

    Args:
        labels: the training labels (ints in [0, n_classes)).
        n_classes: K, >= 2.
        mode: "auto" (balanced when the largest class has more than `IMBALANCE` times the
            images of the smallest, else None), "balanced" (always) or None (never).

    Returns:
        {class index: weight} or None.

    Example:
        >>> from kerasopt.transfer.auto import class_weights
        >>> class_weights([0, 0, 0, 1], 2)  # 4 / (2 * 3), 4 / (2 * 1)
        {0: 0.6667, 1: 2.0}
        >>> class_weights([0, 0, 1, 1, 1], 2) is None  # ratio 1.5: balanced enough
        True

    References:
        King & Zeng, "Logistic Regression in Rare Events Data", Political Analysis, 2001.
    """
    if mode not in ("auto", "balanced", None):
        raise ValueError(
            f"Argument `mode` must be one of 'auto', 'balanced', None. Received: mode={mode!r}"
        )
    check_int("n_classes", n_classes, minimum=2)
    counts = np.bincount(np.asarray(labels, "int64"), minlength=n_classes)
    if mode is None or counts.min() == 0:
        return None
    if mode == "auto" and counts.max() <= IMBALANCE * counts.min():
        return None
    n = counts.sum()
    return {c: round(float(n / (n_classes * counts[c])), 4) for c in range(n_classes)}
