"""Which layers to train, how fast and how long: the course's transfer-learning table as data.

Source: the course's transfer-learning section (after CS231n, "Transfer Learning"): by dataset,
- similar to ImageNet and small: a linear classifier on top;
- similar and large: fine-tune several top layers;
- different and small: try linear classifiers from different depths;
- different and large: fine-tune many layers.
"With more data, unfreeze more of the top layers." Learning rates follow Keras' transfer-learning
guide (Adam, head at 1e-3; phase 2 about 10x lower) and ULMFiT's discriminative rates (Howard &
Ruder, 2018) with a warm-up then cosine decay (Goyal et al., 2017; Loshchilov & Hutter, 2017).

Departures, stated: for "similar, small" phase 2 fine-tunes only the top 10% of the backbone's
layers at a tenth of the head's rate for a few epochs (Keras' guide does this on small sets; with
`epochs_finetune=0`, or the preset "head", it is the course's linear classifier exactly). For
"different, small" the head sits on the full backbone and phase 2 fine-tunes the top 30% rather
than probing several depths. Every value is overridable: `choose_strategy(..., **overrides)`
or a whole `table=`.
"""

import dataclasses

from kerasopt._validation import check_choice, check_int, check_range


@dataclasses.dataclass(frozen=True)
class FineTuneStrategy:
    """A two-phase fine-tuning plan.

    name: label. unfreeze_fraction: fraction of the backbone's layers (top first) trained in
    phase 2, BatchNormalization always frozen; 0 = head only. epochs_head / epochs_finetune:
    epochs of phase 1 (head on the frozen backbone) and phase 2. head_learning_rate: Adam rate
    in phase 1. finetune_learning_rate: peak rate of the head in phase 2 (after warm-up).
    backbone_lr_factor: the backbone's phase-2 rate is finetune_learning_rate times this.
    warmup_fraction: share of phase-2 steps spent warming up linearly before cosine decay.

    Example:
        >>> from kerasopt.transfer import FineTuneStrategy
        >>> plan = FineTuneStrategy("custom", unfreeze_fraction=0.2, epochs_head=2, epochs_finetune=3)
        >>> plan.fine_tunes, plan.backbone_lr_factor
        (True, 0.1)
    """

    name: str
    unfreeze_fraction: float
    epochs_head: int
    epochs_finetune: int
    head_learning_rate: float = 1e-3
    finetune_learning_rate: float = 1e-4
    backbone_lr_factor: float = 0.1
    warmup_fraction: float = 0.1

    def __post_init__(self):
        check_range("unfreeze_fraction", self.unfreeze_fraction, 0, 1)
        check_int("epochs_head", self.epochs_head, minimum=0)
        check_int("epochs_finetune", self.epochs_finetune, minimum=0)
        check_range("head_learning_rate", self.head_learning_rate, 0, low_inclusive=False)
        check_range("finetune_learning_rate", self.finetune_learning_rate, 0, low_inclusive=False)
        check_range("backbone_lr_factor", self.backbone_lr_factor, 0, 1, low_inclusive=False)
        check_range("warmup_fraction", self.warmup_fraction, 0, 1, high_inclusive=False)

    @property
    def fine_tunes(self):
        """Whether phase 2 trains anything."""
        return self.unfreeze_fraction > 0 and self.epochs_finetune > 0


# Presets by how much of the backbone phase 2 trains.
PRESETS = {
    "head": FineTuneStrategy("head", 0.0, epochs_head=8, epochs_finetune=0),
    "top": FineTuneStrategy("top", 0.1, epochs_head=4, epochs_finetune=3),
    "several": FineTuneStrategy("several", 0.3, epochs_head=3, epochs_finetune=6),
    "many": FineTuneStrategy(
        "many", 1.0, epochs_head=3, epochs_finetune=10, backbone_lr_factor=0.3
    ),
}

# The course's table: (similarity, size) -> preset name.
TABLE = {
    ("similar", "small"): "top",
    ("similar", "large"): "several",
    ("different", "small"): "several",
    ("different", "large"): "many",
}

# Fewer training images than this counts as "small".
LARGE_DATASET = 10_000


def choose_strategy(
    similarity="similar", n_train=None, large_threshold=LARGE_DATASET, table=None, **overrides
):
    """The `FineTuneStrategy` the course's table picks, with `overrides` applied.

    Args:
        similarity: "similar" (natural photos like ImageNet's) or "different" (e.g. medical,
            satellite or document images).
        n_train: number of training images; fewer than `large_threshold` is "small".
        large_threshold: size from which a dataset counts as large.
        table: a replacement for `TABLE` ((similarity, size) -> preset name or FineTuneStrategy).
        **overrides: FineTuneStrategy fields to replace (e.g. epochs_finetune=0).

    Example:
        >>> from kerasopt.transfer import choose_strategy
        >>> choose_strategy("similar", n_train=245).name, choose_strategy("different", n_train=50_000).name
        ('top', 'many')
        >>> choose_strategy("similar", n_train=245, epochs_finetune=0).fine_tunes
        False

    References:
        The course's transfer-learning table (similar/different to ImageNet x small/large data);
        Yosinski et al., NeurIPS 2014.
    """
    check_choice("similarity", similarity, ("similar", "different"))
    n_train = check_int("n_train", n_train, minimum=1)
    check_int("large_threshold", large_threshold, minimum=1)
    size = "large" if n_train >= large_threshold else "small"
    entry = (TABLE if table is None else table)[(similarity, size)]
    strategy = PRESETS[entry] if isinstance(entry, str) else entry
    unknown = set(overrides) - {f.name for f in dataclasses.fields(FineTuneStrategy)}
    if unknown:
        raise TypeError(
            f"Unknown FineTuneStrategy fields: {sorted(unknown)}. Received: {overrides!r}"
        )
    return dataclasses.replace(strategy, **overrides)


def preset(name, **overrides):
    """The preset `name` ("head", "top", "several", "many") with `overrides` applied.

    Example:
        >>> from kerasopt.transfer import preset
        >>> preset("several").unfreeze_fraction, preset("head", epochs_head=2).epochs_head
        (0.3, 2)
    """
    check_choice("name", name, tuple(PRESETS))
    return dataclasses.replace(PRESETS[name], **overrides)
