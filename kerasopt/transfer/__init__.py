"""Transfer learning from `keras.applications` ImageNet backbones: registry, classifier, freezing,
strategy (presets and the automatic decision), data, features, device, phases, time budget,
evaluation, and the resumable run folder."""

from kerasopt.transfer.auto import AutoDecision, class_weights, decide
from kerasopt.transfer.backbones import (
    BACKBONES,
    BackboneSpec,
    WeightsUnavailableError,
    backbone,
    get_spec,
)
from kerasopt.transfer.budget import Clock, StepLimit, StepPlan, TimeBudget, plan_steps
from kerasopt.transfer.classifier import ImagenetPreprocessing, build_classifier
from kerasopt.transfer.config import FineTuneConfig
from kerasopt.transfer.data import (
    DataUnavailableError,
    ImageData,
    augmentation,
    image_dataset,
    image_folder,
)
from kerasopt.transfer.device import DeviceSetup, configure_device
from kerasopt.transfer.evaluation import classification_report, confusion_matrix
from kerasopt.transfer.features import cache_features, feature_extractor, image_statistics
from kerasopt.transfer.finetune import FineTuneResult, fine_tune
from kerasopt.transfer.finetuning import train_finetune
from kerasopt.transfer.freezing import discriminative_optimizer, freeze, unfreeze, unfreeze_fraction
from kerasopt.transfer.head import train_head, train_head_on_features
from kerasopt.transfer.image_folder_sequence import (
    ImageFolderSequence,
    folder_sequence,
    image_sequences,
)
from kerasopt.transfer.losses import SparseSmoothedCrossentropy
from kerasopt.transfer.lr_range import lr_range_test
from kerasopt.transfer.run_folder import RunFolderError, export_serving
from kerasopt.transfer.schedule import warmup_cosine
from kerasopt.transfer.scratch import train_scratch
from kerasopt.transfer.strategy import PRESETS, TABLE, FineTuneStrategy, choose_strategy, preset

__all__ = [
    "AutoDecision",
    "Clock",
    "SparseSmoothedCrossentropy",
    "StepLimit",
    "StepPlan",
    "TimeBudget",
    "cache_features",
    "class_weights",
    "classification_report",
    "decide",
    "feature_extractor",
    "image_statistics",
    "lr_range_test",
    "plan_steps",
    "train_head_on_features",
    "BACKBONES",
    "PRESETS",
    "RunFolderError",
    "TABLE",
    "BackboneSpec",
    "DataUnavailableError",
    "DeviceSetup",
    "FineTuneConfig",
    "FineTuneResult",
    "FineTuneStrategy",
    "ImageData",
    "ImageFolderSequence",
    "ImagenetPreprocessing",
    "WeightsUnavailableError",
    "augmentation",
    "backbone",
    "build_classifier",
    "choose_strategy",
    "configure_device",
    "confusion_matrix",
    "discriminative_optimizer",
    "export_serving",
    "fine_tune",
    "folder_sequence",
    "freeze",
    "get_spec",
    "image_dataset",
    "image_folder",
    "image_sequences",
    "preset",
    "train_finetune",
    "train_head",
    "train_scratch",
    "unfreeze",
    "unfreeze_fraction",
    "warmup_cosine",
]
