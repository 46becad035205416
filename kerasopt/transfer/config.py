"""Every option of `fine_tune` in one frozen record that checks itself.

Source: the shape of fastai's `Learner.fine_tune` arguments and of Keras' own configs: one
object holds the run's options, `metrics.json` records it (`dataclasses.asdict`) and
`FineTuneConfig.from_dict` reads it back; the command line builds the same object
(`kerasopt.cli.finetune`) from the fields' `cli` metadata, so the list of options is written
once, here.
"""

import dataclasses

from kerasopt._validation import check_bool, check_choice, check_int, check_range
from kerasopt.transfer.backbones import BACKBONES
from kerasopt.transfer.strategy import FineTuneStrategy, choose_strategy

# Defaults chosen by measurement (docs/guides/transfer.md, "Defaults chosen by measurement").
LABEL_SMOOTHING = 0.1
AVERAGING = ("polyak", "ema", "swa")
TTA_MODES = ("flip", "five_crop")
_AUTO_BOOL = ("auto", True, False)


def _none_word(text):
    """A command-line word for None ("none", any case), else the text."""
    return None if text.lower() == "none" else text


def _minutes(text):
    """--time-budget: minutes, 0 for no budget (None)."""
    value = float(text)
    return None if value == 0 else value


def _rate_or_word(text):
    """--finetune-lr: "auto", "find" or a rate."""
    return text if text in ("auto", "find") else float(text)


def _cli(*flags, **argparse_kwargs):
    """Field metadata: the command-line flags and `argparse` keywords of an option."""
    return {"cli": {"flags": flags, **argparse_kwargs}}


@dataclasses.dataclass(frozen=True)
class FineTuneConfig:
    """The options of a fine-tuning run (`kerasopt.transfer.fine_tune`), checked on creation.

    Source: Keras' transfer-learning guide and fastai's `fine_tune` (the two-phase recipe);
    each field is documented in `fine_tune`'s docstring. `dataclasses.replace(config, **changes)`
    checks the changed record again; `metrics.json` records `dataclasses.asdict(config)` under
    "config" and `FineTuneConfig.from_dict` rebuilds the same object from it. Fields with `cli`
    metadata are the command line's options (`kerasopt.cli.finetune` adds them to its parser).

    Example:
        >>> import dataclasses
        >>> from kerasopt.transfer import FineTuneConfig
        >>> config = FineTuneConfig(average="swa", time_budget=5)
        >>> FineTuneConfig.from_dict(dataclasses.asdict(config)) == config
        True
        >>> FineTuneConfig(patience=0)
        Traceback (most recent call last):
        ...
        ValueError: Argument `patience` must be an integer >= 1. Received: patience=0
    """

    backbone: str = dataclasses.field(
        default="mobilenet_v2",
        metadata=_cli("--backbone", help="a kerasopt.transfer.BACKBONES key"),
    )
    strategy: FineTuneStrategy | None = None
    similarity: str | None = dataclasses.field(
        default=None,
        metadata=_cli(
            "--similarity",
            choices=("similar", "different"),
            help="override the measured decision with the course's table: how close the images are to ImageNet photos (for --strategy auto)",
        ),
    )
    weights: str | None = dataclasses.field(
        default="imagenet",
        metadata=_cli(
            "--weights",
            type=_none_word,
            help="'imagenet' (Keras cache, else download), 'none' (random init) or a weights file",
        ),
    )
    alpha: float | None = dataclasses.field(
        default=None,
        metadata=_cli("--alpha", type=float, help="width multiplier (MobileNet family only)"),
    )
    dropout: float = 0.2
    mixed_precision: object = dataclasses.field(
        default="auto",
        metadata=_cli(
            "--no-mixed-precision", action="store_const", const=False, help="keep float32 on a GPU"
        ),
    )
    xla: object = dataclasses.field(
        default="auto",
        metadata=_cli("--no-xla", action="store_const", const=False, help="no XLA compilation"),
    )
    distribute: object = dataclasses.field(
        default="auto",
        metadata=_cli(
            "--no-distribute",
            action="store_const",
            const=False,
            help="no MirroredStrategy with several GPUs",
        ),
    )
    patience: int = dataclasses.field(
        default=3,
        metadata=_cli("--patience", type=int, help="early-stopping patience in epochs"),
    )
    verbose: object = dataclasses.field(
        default="auto",
        metadata=_cli(
            "--verbose",
            type=int,
            choices=(0, 1, 2),
            help="Keras fit verbosity (default: a progress bar on a terminal, one line per epoch when stdout is redirected)",
        ),
    )
    average: str | None = dataclasses.field(
        default=None,
        metadata=_cli(
            "--average",
            choices=AVERAGING,
            group="phase2",
            help="weight averaging of phase 2's iterates; the saved model holds the averages",
        ),
    )
    snapshots: int | None = dataclasses.field(
        default=None,
        metadata=_cli(
            "--snapshots",
            type=int,
            group="phase2",
            help="snapshot ensemble of K models in phase 2 (cyclic rate; epochs rounded up to a multiple of K; RUN/snapshots/, RUN/ensemble/)",
        ),
    )
    overwrite: bool = dataclasses.field(
        default=False,
        metadata=_cli(
            "--overwrite",
            action="store_true",
            group="existing",
            help="replace an existing run folder (once this run has succeeded), or discard an interrupted run",
        ),
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata=_cli(
            "--resume",
            action="store_true",
            group="existing",
            help="continue the interrupted run of --out (same arguments) from its last completed epoch",
        ),
    )
    time_budget: float | None = dataclasses.field(
        default=None,
        metadata=_cli(
            "--time-budget",
            type=_minutes,
            metavar="MINUTES",
            help="minutes for the whole command, from start to the written run folder (caching, range tests, both phases, evaluation, export); phase 2's epochs are planned from measured step times and it stops cleanly, keeping the best weights (0 = no budget)",
        ),
    )
    head_learning_rate: object = dataclasses.field(
        default="find",
        metadata=_cli(
            "--head-lr",
            type=float,
            help="phase-1 learning rate (default: LR range test on the cached features)",
        ),
    )
    finetune_learning_rate: object = dataclasses.field(
        default="auto",
        metadata=_cli(
            "--finetune-lr",
            type=_rate_or_word,
            help="phase-2 peak learning rate of the top: a rate, auto (default: 1e-3, the backbone at backbone_lr_factor times it) or find (the LR range test on phase 2's model)",
        ),
    )
    label_smoothing: float = dataclasses.field(
        default=LABEL_SMOOTHING,
        metadata=_cli("--label-smoothing", type=float, help="label smoothing in [0, 1)"),
    )
    class_weight: object = dataclasses.field(
        default="auto",
        metadata=_cli(
            "--class-weight",
            type=_none_word,
            choices=("auto", "balanced", None),
            help="auto: n / (K * n_c) per class when the largest class has more than 1.5x the smallest's images; balanced: always; none: never",
        ),
    )
    tta: str | None = dataclasses.field(
        default=None,
        metadata=_cli(
            "--tta",
            choices=TTA_MODES,
            help="also report the test metrics with test-time augmentation",
        ),
    )
    cached_activations: bool = dataclasses.field(
        default=True,
        metadata=_cli(
            "--no-cached-activations",
            action="store_const",
            const=False,
            help="phase 2 on the images (the whole backbone every step) instead of on the cached activations of its frozen bottom",
        ),
    )
    cache_views: int = dataclasses.field(
        default=1,
        metadata=_cli(
            "--cache-views",
            type=int,
            help="versions of each training image cached for phase 2: the image, then augmented copies (default 1)",
        ),
    )
    overrides: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_choice("backbone", self.backbone, tuple(BACKBONES))
        if self.strategy is not None and not isinstance(self.strategy, FineTuneStrategy):
            raise TypeError(
                f"Argument `strategy` must be a FineTuneStrategy or None. Received: strategy={self.strategy!r}"
            )
        check_choice("similarity", self.similarity, (None, "similar", "different"))
        if self.alpha is not None:
            check_range("alpha", self.alpha, 0, low_inclusive=False)
        check_range("dropout", self.dropout, 0, 1, high_inclusive=False)
        for name in ("mixed_precision", "xla", "distribute"):
            check_choice(name, getattr(self, name), _AUTO_BOOL)
        check_int("patience", self.patience, minimum=1)
        check_choice("verbose", self.verbose, ("auto", 0, 1, 2))
        check_phase2_options(self.average, self.snapshots)
        check_bool("overwrite", self.overwrite)
        check_bool("resume", self.resume)
        if self.time_budget is not None:
            check_range("time_budget", self.time_budget, 0, low_inclusive=False)
        _check_rate("head_learning_rate", self.head_learning_rate, ("find",))
        _check_rate("finetune_learning_rate", self.finetune_learning_rate, ("find", "auto"))
        check_range("label_smoothing", self.label_smoothing, 0, 1, high_inclusive=False)
        if not isinstance(self.class_weight, dict):
            check_choice("class_weight", self.class_weight, ("auto", "balanced", None))
        check_choice("tta", self.tta, (None, *TTA_MODES))
        check_bool("cached_activations", self.cached_activations)
        check_int("cache_views", self.cache_views, minimum=1)
        self._check_overrides()
        self._check_phase2()

    def _check_overrides(self):
        if not isinstance(self.overrides, dict) or set(self.overrides) - {
            f.name for f in dataclasses.fields(FineTuneStrategy)
        }:
            raise ValueError(
                f"Argument `overrides` must name FineTuneStrategy fields. Received: overrides={self.overrides!r}"
            )

    def _check_phase2(self):
        plan = self.planned_strategy()
        fine_tunes = plan.fine_tunes if plan is not None else True
        if (self.average is not None or self.snapshots is not None) and (
            self.weights is None or not fine_tunes
        ):
            raise ValueError(
                "Arguments `average` and `snapshots` act on phase 2 (fine-tuning), which this run does not have "
                f"(weights=None, or a strategy with no unfrozen layers or no fine-tuning epochs). Received: "
                f"average={self.average!r}, snapshots={self.snapshots!r}, weights={self.weights!r}, "
                f"strategy={getattr(plan, 'name', 'auto')!r}"
            )
        if self.weights is not None and plan is not None and plan.epochs_head < 1:
            raise ValueError(
                "Argument `strategy` must train the head for at least one epoch (phase 2 starts from it). "
                f"Received: epochs_head={plan.epochs_head}"
            )

    def planned_strategy(self, n_train=None):
        """The fixed plan: `strategy` with `overrides`, or the course's table's pick for
        `similarity` (with `n_train`; without it only `strategy` is known); None: decided from
        the data (`kerasopt.transfer.auto.decide`)."""
        plan = self.strategy
        if plan is None and self.similarity is not None and n_train is not None:
            plan = choose_strategy(self.similarity, n_train)
        return None if plan is None else dataclasses.replace(plan, **self.overrides)

    @classmethod
    def from_dict(cls, values):
        """The config that `dataclasses.asdict` (then JSON) turned into `values`."""
        values = dict(values)
        if isinstance(values.get("strategy"), dict):
            values["strategy"] = FineTuneStrategy(**values["strategy"])
        if isinstance(values.get("class_weight"), dict):
            values["class_weight"] = {int(k): v for k, v in values["class_weight"].items()}
        return cls(**values)


def check_phase2_options(average, snapshots):
    """`average` is None or one of `AVERAGING`, `snapshots` None or >= 1, not both."""
    check_choice("average", average, (None, *AVERAGING))
    if snapshots is not None:
        check_int("snapshots", snapshots, minimum=1)
    if average is not None and snapshots is not None:
        raise ValueError(
            "Arguments `average` and `snapshots` cannot be combined (an ensemble of snapshots, or one "
            f"averaged model: choose one). Received: average={average!r}, snapshots={snapshots!r}"
        )


def _check_rate(name, value, words):
    if value in words or value is None:
        return value
    return check_range(name, value, 0, low_inclusive=False)
