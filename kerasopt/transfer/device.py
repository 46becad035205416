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


def compilation_cache_folder():
    """The project's folder for compiled programs: `$KERASOPT_CACHE_DIR/jax_compilation_cache`,
    or `~/.cache/kerasopt/jax_compilation_cache` when the variable is not set."""
    root = os.environ.get("KERASOPT_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "kerasopt"
    )
    return os.path.join(root, "jax_compilation_cache")


def enable_compilation_cache(folder=None):
    """Turn on JAX's persistent compilation cache, so a second run of the same shapes compiles nothing.

    Source: JAX's "Persistent compilation cache" guide (`jax_compilation_cache_dir`). Every
    compiled program is kept (no minimum compile time or size), so the train, test and predict
    steps of a second identical run are read from the folder instead of compiled
    (tests/transfer/test_compilation_cache.py counts the compiles). Call it before the first
    compilation. On other backends it does nothing (TensorFlow's XLA has no such cache) and
    returns None.

    Args:
        folder: where compiled programs are kept; None: `compilation_cache_folder()`.

    Returns:
        The folder (created if missing) on JAX, else None.

    Example:
        >>> import keras, tempfile
        >>> from kerasopt.transfer.device import enable_compilation_cache
        >>> folder = tempfile.mkdtemp()
        >>> enable_compilation_cache(folder) == (folder if keras.backend.backend() == "jax" else None)
        True
    """
    if keras.backend.backend() != "jax":
        return None
    import jax

    folder = os.path.abspath(os.fspath(folder or compilation_cache_folder()))
    os.makedirs(folder, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def precision_candidates(device_kind=None, compute_capability=None):
    """The mixed-precision policies worth measuring on a device, best first.

    bfloat16 where the card computes in it natively (NVIDIA compute capability 8.0 and later:
    A100, H100, H200, RTX 30xx/40xx; Kalamkar et al., 2019, for bfloat16 training), then
    float16 (Micikevicius et al., 2018, with loss scaling); on a CPU, float32 alone.

    Args:
        device_kind: None: read from JAX's first device (or TensorFlow's first GPU); "cpu" for
            a CPU, else a GPU's name.
        compute_capability: the GPU's "major.minor" (None: read it where the backend says).

    Example:
        >>> from kerasopt.transfer.device import precision_candidates
        >>> precision_candidates("NVIDIA H200", "9.0")
        ['mixed_bfloat16', 'mixed_float16']
        >>> precision_candidates("Tesla V100-SXM2-16GB", "7.0")
        ['mixed_float16']
        >>> precision_candidates("cpu")
        ['float32']
    """
    if device_kind is None:
        device_kind, compute_capability = _first_device()
    if device_kind == "cpu":
        return ["float32"]
    major = float(str(compute_capability or "0").split(".")[0])
    return (["mixed_bfloat16"] if major >= 8 else []) + ["mixed_float16"]


def _first_device():
    """("cpu" or the GPU's name, its compute capability or None) on the current backend."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "gpu":
            return "cpu", None
        return device.device_kind, getattr(device, "compute_capability", None)
    if keras.backend.backend() == "tensorflow":
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            capability = details.get("compute_capability")
            if isinstance(capability, tuple):
                capability = ".".join(map(str, capability))
            return details.get("device_name", "GPU"), capability
    return "cpu", None


def choose_precision(measure, candidates=None):
    """The precision policy of a card, chosen by measurement; the record `metrics.json` keeps.

    Issue 28's rule: bfloat16 where the card supports it and it measures at least as fast as
    float16 in both phases (head and full fine-tune), float16 otherwise; float32 on a CPU
    (no measurement). `measure(policy)` returns {phase: images/s} for that policy (e.g. the
    throughput runs of `benchmarks/gpu_finetune.py`); it is called once per candidate.

    Args:
        measure: callable policy -> {"head": images/s, "finetune": images/s}.
        candidates: the policies to consider (None: `precision_candidates()`).

    Returns:
        {"policy", "candidates", "measured": {policy: {phase: images/s}}, "reason"}: the
        record to write under "precision" in the run's metrics.json.

    Example:
        >>> from kerasopt.transfer.device import choose_precision
        >>> rates = {"mixed_bfloat16": {"head": 900, "finetune": 400},
        ...          "mixed_float16": {"head": 880, "finetune": 420}}
        >>> choose_precision(rates.get, ["mixed_bfloat16", "mixed_float16"])["policy"]  # slower fine-tune
        'mixed_float16'
        >>> choose_precision(rates.get, ["float32"])["reason"]
        'no GPU: float32'
    """
    candidates = list(candidates or precision_candidates())
    if candidates == ["float32"]:
        return {
            "policy": "float32",
            "candidates": candidates,
            "measured": {},
            "reason": "no GPU: float32",
        }
    measured = {policy: dict(measure(policy)) for policy in candidates}
    policy, reason = candidates[-1], "float16: the card has no native bfloat16"
    if "mixed_bfloat16" in measured and "mixed_float16" in measured:
        bf16, fp16 = measured["mixed_bfloat16"], measured["mixed_float16"]
        faster = all(bf16[phase] >= fp16[phase] for phase in fp16)
        policy = "mixed_bfloat16" if faster else "mixed_float16"
        reason = (
            "bfloat16: at least as fast as float16 in every phase"
            if faster
            else "float16: bfloat16 measured slower in a phase"
        )
    elif len(candidates) == 1:
        policy, reason = candidates[0], f"{candidates[0]}: the only candidate"
    return {"policy": policy, "candidates": candidates, "measured": measured, "reason": reason}
