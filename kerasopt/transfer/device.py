"""Where and how a fine-tuning run computes: distribution strategy, precision, XLA.

Source: mixed precision (Micikevicius et al., 2018) and XLA compilation on a GPU; several GPUs:
`tf.distribute.MirroredStrategy` (TensorFlow's distributed-training guide); several workers
(`TF_CONFIG`): `tf.distribute.MultiWorkerMirroredStrategy` (`kerasopt.distributed`). TensorFlow
backend.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import keras

from kerasopt import distributed
from kerasopt._backend import tf
from kerasopt._platform import cpuinfo
from kerasopt._validation import check_choice

_AUTO = ("auto", True, False)
_DISTRIBUTE = ("auto", True, False, "multi_worker")


@dataclasses.dataclass
class DeviceSetup:
    """What `configure_device` chose: the distribution strategy, precision and compilation.

    `distribution` is the `tf.distribute.Strategy` whose scope builds the model,
    `mixed_precision` whether Keras' global policy is "mixed_float16", `jit_compile` whether
    `compile` gets `jit_compile=True`, `description` the device in words (recorded in the
    phase metrics). The phase functions (`train_head`, ...) read it.

    Example:
        >>> import tensorflow as tf
        >>> from kerasopt.transfer import DeviceSetup
        >>> setup = DeviceSetup(tf.distribute.get_strategy(), mixed_precision=False, jit_compile=False,
        ...                     description="CPU")
        >>> with setup.distribution.scope():  # the default strategy: no distribution
        ...     print(tf.distribute.has_strategy())
        False
    """

    distribution: tf.distribute.Strategy
    mixed_precision: bool
    jit_compile: bool
    description: str


def describe_device():
    """ "GPU: <name> xN" when GPUs are visible, else "CPU: <model> (N cores)"."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        return f"GPU: {name} x{len(gpus)}"
    return f"CPU: {cpuinfo('model name')} ({os.cpu_count()} cores)"


def configure_device(mixed_precision="auto", xla="auto", distribute="auto"):
    """Pick precision, XLA and distribution; sets Keras' global dtype policy.

    Each argument is "auto" (on when a GPU is visible; `distribute`: when more than one is, or
    when this process is one worker of a cluster), True or False.

    Args:
        mixed_precision: "mixed_float16" as Keras' global dtype policy (else "float32").
        xla: compile the training step with XLA (`jit_compile=True`).
        distribute: `tf.distribute.MirroredStrategy` over the visible GPUs (else the default
            strategy); "multi_worker", or "auto" when `TF_CONFIG` names a cluster of several
            tasks (`kerasopt.distributed.in_cluster`):
            `kerasopt.distributed.multi_worker_strategy()` (each worker's GPUs included).

    Returns:
        A `DeviceSetup`.

    Raises:
        ValueError: an argument that is not "auto", True or False.

    Example:
        >>> import keras, tensorflow as tf
        >>> from kerasopt.transfer import configure_device
        >>> setup = configure_device(mixed_precision=False, xla=False, distribute=False)
        >>> setup.mixed_precision, setup.jit_compile, keras.mixed_precision.global_policy().name
        (False, False, 'float32')
        >>> setup.distribution is tf.distribute.get_strategy()
        True
        >>> configure_device(xla="yes")
        Traceback (most recent call last):
        ...
        ValueError: Argument `xla` must be one of 'auto', True, False. Received: xla='yes'
    """
    for name, value in (("mixed_precision", mixed_precision), ("xla", xla)):
        check_choice(name, value, _AUTO)
    check_choice("distribute", distribute, _DISTRIBUTE)
    if keras.backend.backend() != "tensorflow":
        return _configure_other_backend(mixed_precision, distribute)
    gpus = tf.config.list_physical_devices("GPU")
    use_mp = bool(gpus) if mixed_precision == "auto" else mixed_precision
    use_xla = bool(gpus) if xla == "auto" else xla
    multi_worker = distribute == "multi_worker" or (
        distribute == "auto" and distributed.in_cluster()
    )
    use_mirrored = len(gpus) > 1 if distribute == "auto" else distribute is True
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mp else "float32")
    description = describe_device()
    if multi_worker:
        distribution = distributed.multi_worker_strategy()
        jobs = distribution.cluster_resolver.cluster_spec().as_dict()
        workers = sum(len(jobs.get(job, ())) for job in ("chief", "worker")) or 1
        description += f", {workers} workers"
    elif use_mirrored:
        distribution = tf.distribute.MirroredStrategy()
    else:
        distribution = tf.distribute.get_strategy()
    return DeviceSetup(distribution, bool(use_mp), bool(use_xla), description)


class _OneDevice:
    """The `DeviceSetup.distribution` off TensorFlow: one device, a `scope()` that does nothing."""

    def scope(self):
        return contextlib.nullcontext()


def _configure_other_backend(mixed_precision, distribute):
    """Keras 3 on JAX or PyTorch: one device; XLA always on under JAX (`jit_compile=True`);
    mixed precision ("auto") when the backend sees a GPU."""
    if distribute is True or distribute == "multi_worker":
        raise ValueError(
            "Argument `distribute` must be 'auto' or False on the "
            f"{keras.backend.backend()} backend (tf.distribute is TensorFlow only). "
            f"Received: distribute={distribute!r}"
        )
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        gpus = jax.devices() if device.platform == "gpu" else []
        name = device.device_kind
    else:
        gpus, name = [], ""
    use_mp = bool(gpus) if mixed_precision == "auto" else mixed_precision
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mp else "float32")
    description = (
        f"GPU: {name} x{len(gpus)}"
        if gpus
        else f"CPU: {cpuinfo('model name')} ({os.cpu_count()} cores)"
    )
    return DeviceSetup(_OneDevice(), bool(use_mp), keras.backend.backend() == "jax", description)
