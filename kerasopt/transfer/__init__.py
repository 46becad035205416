"""Transfer learning from `keras.applications` ImageNet backbones: registry, classifier, freezing,
strategy, data, device, phases, and the resumable run folder."""

from kerasopt.transfer.backbones import (
    BACKBONES,
    BackboneSpec,
    WeightsUnavailableError,
    backbone,
    get_spec,
)
from kerasopt.transfer.classifier import ImagenetPreprocessing, InferenceMode, build_classifier
from kerasopt.transfer.data import (
    DataUnavailableError,
    ImageData,
    augmentation,
    image_dataset,
    image_folder,
)
from kerasopt.transfer.device import DeviceSetup, configure_device
from kerasopt.transfer.finetune import FineTuneResult, fine_tune
from kerasopt.transfer.freezing import discriminative_optimizer, freeze, unfreeze, unfreeze_fraction
from kerasopt.transfer.image_folder_sequence import (
    ImageFolderSequence,
    folder_sequence,
    image_sequences,
)
from kerasopt.transfer.phases import (
    confusion_matrix,
    train_finetune,
    train_head,
    train_scratch,
    warmup_cosine,
)
from kerasopt.transfer.run_folder import RunFolderError, export_serving
from kerasopt.transfer.strategy import PRESETS, TABLE, FineTuneStrategy, choose_strategy, preset

__all__ = [
    "BACKBONES",
    "PRESETS",
    "RunFolderError",
    "TABLE",
    "BackboneSpec",
    "DataUnavailableError",
    "DeviceSetup",
    "FineTuneResult",
    "FineTuneStrategy",
    "ImageData",
    "ImageFolderSequence",
    "ImagenetPreprocessing",
    "InferenceMode",
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
