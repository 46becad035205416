"""The automatic strategy and the class weights (`kerasopt.transfer.auto`)."""

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from kerasopt.transfer.auto import (
    BLURRY,
    FAR_RESIDUAL,
    GRAYSCALE,
    SIMILAR_RESIDUAL,
    class_weights,
    decide,
)

PHOTOS = {"colourfulness": 0.1, "sharpness": 0.25}


@pytest.mark.portable
@pytest.mark.parametrize("counts", [(3, 1), (50, 10, 7), (120, 30), (5, 5, 40, 1)])
@pytest.mark.reference("transfer.class_weights")
def test_class_weights_follow_the_balanced_formula(counts):
    """w_c = n / (K * n_c), checked against scikit-learn's compute_class_weight("balanced")."""
    labels = np.repeat(np.arange(len(counts)), counts)
    expected = compute_class_weight("balanced", classes=np.arange(len(counts)), y=labels)
    got = class_weights(labels, len(counts), "balanced")
    np.testing.assert_allclose([got[c] for c in range(len(counts))], expected, atol=1e-4)
    # The weighted counts are equal: every class weighs n / K in the loss.
    np.testing.assert_allclose(
        [got[c] * n for c, n in enumerate(counts)], sum(counts) / len(counts), rtol=1e-3
    )


@pytest.mark.portable
def test_class_weights_auto_only_when_unbalanced_and_validation():
    assert class_weights([0] * 15 + [1] * 10, 2) is None  # 1.5x: balanced enough
    assert class_weights([0] * 16 + [1] * 10, 2) == {0: 0.8125, 1: 1.3}  # 26 / (2 * 16), 26 / 20
    assert class_weights([0] * 30 + [1] * 10, 2, mode=None) is None
    with pytest.raises(ValueError, match="Argument `mode`"):
        class_weights([0, 1], 2, mode="inverse")


@pytest.mark.portable
@pytest.mark.reference("transfer.decide", "transfer.AutoDecision")
def test_decide_follows_its_documented_thresholds():
    """Residual = (1 - val accuracy) / (1 - 1/K); each boundary of the module's rule."""
    similar_val = 1 - 0.5 * (SIMILAR_RESIDUAL - 0.01)  # K = 2: residual just below the bound
    assert decide(1.0, similar_val, 2, 300, PHOTOS).strategy.name == "head"
    assert decide(1.0, similar_val, 2, 5000, PHOTOS).strategy.name == "top"
    middle_val = 1 - 0.5 * (SIMILAR_RESIDUAL + FAR_RESIDUAL) / 2
    assert decide(1.0, middle_val, 2, 300, PHOTOS).strategy.name == "several"
    assert decide(1.0, middle_val, 2, 5000, PHOTOS).strategy.name == "many"
    far_val = 1 - 0.5 * (FAR_RESIDUAL + 0.01)
    assert decide(1.0, far_val, 2, 300, PHOTOS).strategy.name == "many"
    gray = {**PHOTOS, "colourfulness": GRAYSCALE / 2}
    blurry = {**PHOTOS, "sharpness": BLURRY / 2}
    for stats in (gray, blurry):  # a good probe does not make grayscale or blurry images similar
        assert decide(1.0, 0.99, 2, 300, stats).strategy.name == "many"
    decision = decide(0.99, 0.9, 10, 1234, PHOTOS, epochs_finetune=2)
    assert decision.measurements["residual"] == pytest.approx(0.1 / 0.9, abs=1e-4)
    assert decision.measurements["probe_gap"] == pytest.approx(0.09)
    assert decision.strategy.epochs_finetune == 2
    with pytest.raises(ValueError, match="Argument `probe_val_accuracy`"):
        decide(1.0, 1.5, 2, 10, PHOTOS)


def _far_from_imagenet(root, n_per_class, size=96, seed=0):
    """Grayscale noise textures, two classes: horizontal vs vertical stripes of random period
    and phase under strong noise (no object, no colour)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, name in enumerate(("horizontal", "vertical")):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            period = rng.uniform(6, 14)
            wave = np.sin(2 * np.pi * (np.arange(size) / period + rng.uniform()))
            stripes = np.tile(wave[:, None] if label == 0 else wave[None, :], (1, 1))
            stripes = np.broadcast_to(stripes, (size, size))
            image = 127 + 40 * stripes + rng.normal(0, 60, (size, size))
            gray = np.clip(image, 0, 255).astype("uint8")
            Image.fromarray(gray).convert("RGB").save(root / name / f"{i}.png")


def _measure_and_decide(folder):
    """The automatic plan as `fine_tune` makes it: features cached once, the probe trained on
    them (LR from the range test), image statistics, then `decide`."""
    import keras

    from kerasopt.transfer import backbone, build_classifier, image_dataset
    from kerasopt.transfer.features import cache_features, feature_extractor, image_statistics
    from kerasopt.transfer.head import train_head_on_features

    keras.utils.set_random_seed(0)
    data = image_dataset(folder, image_size=224, batch_size=16, seed=0, augment=False)
    model = build_classifier(
        backbone("mobilenet_v2", input_shape=(224, 224, 3)), len(data.class_names)
    )
    extractor = feature_extractor(model)
    train = cache_features(extractor, data.train_eval, verbose=0)[:2]
    val = cache_features(extractor, data.val, verbose=0)[:2]
    _, metrics = train_head_on_features(model, train, val, 1e-3, epochs=20, patience=20)
    stats = image_statistics(data.train_eval)
    return decide(metrics["train_accuracy"], metrics["val_accuracy"], 2, data.n_train, stats)


def test_auto_unfreezes_more_far_from_imagenet_than_on_ants_vs_bees(
    small_folder, keras_home, tmp_path
):
    """Seeded (Keras' global seed, the split seed, the generator's seed): 48 + 32 ants-vs-bees photos vs 48 + 32 generated grayscale
    stripe textures, both through MobileNetV2's ImageNet features at 224 px."""
    _far_from_imagenet(tmp_path / "far", 40)
    photos = _measure_and_decide(small_folder)
    far = _measure_and_decide(tmp_path / "far")
    assert far.measurements["colourfulness"] < GRAYSCALE <= photos.measurements["colourfulness"]
    assert far.strategy.unfreeze_fraction > photos.strategy.unfreeze_fraction
