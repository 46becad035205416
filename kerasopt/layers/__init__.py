"""Regularization and augmentation layers Keras lacks, and test-time augmentation.

- `DropConnectDense`, `DropConnectConv2D`: weights dropped in training (Wan et al. 2013).
- `StochasticDepth`, `linear_decay_survival_probabilities`: residual branches dropped per
  example in training (Huang et al. 2016).
- `FlipRotateZoom`: flip, rotation and zoom of uint8 images in one resample, inside the
  compiled step (the training augmentation of `kerasopt.transfer.augmentation`).
- `FractionalMaxPooling2D`: max pooling over random regions with a real ratio (Graham 2014).
- `RandomResizedCrop`: random-area, random-aspect crops resized to a fixed size.
- `PCAColorAugmentation`: colour shifts along the principal components of the pixel colours
  (Krizhevsky et al. 2012).
- `InferenceMode`: a wrapped layer (a backbone) always called with `training=False`.
- `TestTimeAugmentation`: a model averaging another model over ten-crop/five-crop/flip views.
- `mc_predict`: Monte Carlo dropout predictive mean and standard deviation (Gal & Ghahramani 2016).
"""

from kerasopt.layers.drop_connect import DropConnectConv2D, DropConnectDense
from kerasopt.layers.flip_rotate_zoom import FlipRotateZoom
from kerasopt.layers.fractional_pooling import FractionalMaxPooling2D
from kerasopt.layers.inference_mode import InferenceMode
from kerasopt.layers.mc_dropout import mc_predict
from kerasopt.layers.pca_color import PCAColorAugmentation
from kerasopt.layers.random_resized_crop import RandomResizedCrop
from kerasopt.layers.stochastic_depth import StochasticDepth, linear_decay_survival_probabilities
from kerasopt.layers.tta import TestTimeAugmentation

__all__ = [
    "DropConnectConv2D",
    "DropConnectDense",
    "FlipRotateZoom",
    "FractionalMaxPooling2D",
    "InferenceMode",
    "PCAColorAugmentation",
    "RandomResizedCrop",
    "StochasticDepth",
    "TestTimeAugmentation",
    "linear_decay_survival_probabilities",
    "mc_predict",
]
