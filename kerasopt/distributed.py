"""Multi-worker training with `tf.distribute.MultiWorkerMirroredStrategy`: who writes, and a
local cluster of worker processes on the loopback interface.

TensorFlow's multi-worker guide ("Multi-worker training with Keras"): every worker runs the
same program; the cluster and the worker's own place in it come from the `TF_CONFIG`
environment variable; the *chief* (task type "chief", or worker 0 when the cluster has no
chief) is the one that writes checkpoints, snapshots, metrics and plots, the others only
train. This module holds that rule once:

- `multi_worker_strategy()`: `tf.distribute.MultiWorkerMirroredStrategy()`, with the one
  fix `model.fit` needs under it in Keras 3 (see its docstring);
- `is_chief()`: whether this process is the one that writes;
- `chief_only(fn)`: call `fn` on the chief, do nothing elsewhere;
- `launch_local(...)`: start N worker processes of a Python module on 127.0.0.1, each with
  its `TF_CONFIG`, wait for them with a hard timeout and always stop them (tests, demos,
  `recipes.finetune --workers N`).

Across real machines nothing here is needed: start the same command on every machine with
`TF_CONFIG` naming all of them (see docs/guides/distributed.md).
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kerasopt._validation import check_int, check_positive

__all__ = [
    "is_chief",
    "in_cluster",
    "chief_only",
    "multi_worker_strategy",
    "free_port",
    "local_tf_configs",
    "WorkerResult",
    "WorkersFailed",
    "launch",
    "launch_local",
    "keras_tuner_envs",
]

_TF_CONFIG = "TF_CONFIG"


def _task(tf_config=None):
    raw = os.environ.get(_TF_CONFIG, "") if tf_config is None else tf_config
    if not raw:
        return None, None, {}
    config = json.loads(raw) if isinstance(raw, str) else raw
    task = config.get("task", {})
    return task.get("type"), int(task.get("index", 0)), config.get("cluster", {})


def is_chief(tf_config=None):
    """True in the process that writes files: no cluster at all, the "chief" task, or
    worker 0 of a cluster that has no chief (TensorFlow's rule for
    `MultiWorkerMirroredStrategy`).

    Args:
        tf_config: a TF_CONFIG (JSON string or dict); default: the environment's.

    Example:
        >>> is_chief('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
        False
        >>> is_chief('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}')
        True
    """
    task_type, index, cluster = _task(tf_config)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    return task_type == "worker" and index == 0 and "chief" not in cluster


def in_cluster(tf_config=None):
    """True when TF_CONFIG names a cluster of more than one task (this process is one worker).

    Example:
        >>> in_cluster('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}')
        False
    """
    _, _, cluster = _task(tf_config)
    return sum(len(tasks) for tasks in cluster.values()) > 1


def chief_only(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` on the chief (its result); None, without calling it, elsewhere.

    Example:
        >>> chief_only(lambda: "written")  # no TF_CONFIG: this process is the chief
        'written'
    """
    return fn(*args, **kwargs) if is_chief() else None


def multi_worker_strategy(**kwargs):
    """`tf.distribute.MultiWorkerMirroredStrategy(**kwargs)`, ready for Keras 3's `fit`.

    TensorFlow backend. Keras 3 (checked with 3.15 / TensorFlow 2.21) fails in `fit` and
    `evaluate` on a cluster of two or more workers, in two places, both outside the
    training math; the fixes installed here (once, acting only under this strategy) are:

    1. To build the model symbolically Keras reduces the first batch, a tuple of
       per-replica values, with `strategy.reduce`, which `MultiWorkerMirroredStrategy`
       cannot do for a tuple ("Attempt to convert a value (PerReplica ...) to a Tensor").
       Only the batch's shapes and dtypes are needed there: the symbolic build gets this
       worker's local batch instead.
    2. Keras averages the per-replica logs (loss, metrics: scalars) across workers with
       `strategy.reduce("MEAN", v, axis=0)`, which fails on a scalar ("Invalid reduction
       dimension 0 for input with 0 dimensions"); scalars are averaged with `axis=None`.

    Gradients, variable updates and callbacks are Keras' and TensorFlow's own code.

    TensorFlow configures the collective ops once, before its first operation; so the
    strategy (without `kwargs`) is created once per process and returned again on later
    calls: a program creates it at its start (before building datasets) and
    `kerasopt.transfer.configure_device` finds the same one.

    Example:
        >>> strategy = multi_worker_strategy()  # no TF_CONFIG: a one-worker cluster
        >>> strategy.num_replicas_in_sync
        1
    """
    import tensorflow as tf

    global _STRATEGY
    _fix_keras_symbolic_build()
    if kwargs:
        return tf.distribute.MultiWorkerMirroredStrategy(**kwargs)
    if _STRATEGY is None:
        _STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()
    return _STRATEGY


_STRATEGY = None


def _fix_keras_symbolic_build():
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    TensorFlowTrainer = trainer.TensorFlowTrainer
    original = TensorFlowTrainer._maybe_symbolic_build
    if getattr(original, "kerasopt_fix", False):
        return
    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or reduction not in (
            "auto",
            "mean",
        ):
            return original_reduce(values, strategy, reduction)

        def reduce_one(v):
            if all(
                getattr(t, "shape", None) is not None and t.shape.rank == 0
                for t in strategy.experimental_local_results(v)
            ):
                return strategy.reduce("MEAN", v, axis=None)
            return original_reduce(v, strategy, reduction)

        return tf.nest.map_structure(reduce_one, values)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return original(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            batch = next(batches)
            break
        local = tf.nest.map_structure(
            lambda v: (
                strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues)
                else v
            ),
            batch,
        )
        return original(self, data_batch=local)

    _maybe_symbolic_build.kerasopt_fix = True
    TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica


def free_port(host="127.0.0.1"):
    """A TCP port the OS reports free on `host` (bound to port 0, then released).

    Example:
        >>> port = free_port()
        >>> 1024 <= port <= 65535
        True
    """
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def local_tf_configs(n_workers, host="127.0.0.1"):
    """One TF_CONFIG dict per worker of an `n_workers` cluster on `host`, free ports.

    Example:
        >>> configs = local_tf_configs(2)
        >>> [c["task"] for c in configs]
        [{'type': 'worker', 'index': 0}, {'type': 'worker', 'index': 1}]
        >>> all(a.startswith("127.0.0.1:") for a in configs[0]["cluster"]["worker"])
        True
    """
    check_int("n_workers", n_workers, minimum=1)
    addresses = [f"{host}:{free_port(host)}" for _ in range(n_workers)]
    return [
        {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}}
        for i in range(n_workers)
    ]


@dataclass
class WorkerResult:
    """What one local worker did: its index, exit code and everything it printed.

    Example:
        >>> WorkerResult(index=0, returncode=0, output="done\\n").returncode
        0
    """

    index: int
    returncode: int
    output: str


class WorkersFailed(RuntimeError):
    """A local worker exited with an error or ran past the timeout (`launch`, `launch_local`).

    Example:
        >>> import sys
        >>> try:
        ...     launch([[sys.executable, "-c", "import sys; sys.exit(3)"]], [{}], timeout=60)
        ... except WorkersFailed as error:
        ...     print(str(error).splitlines()[:2])
        ['Local workers failed:', '--- worker 0 (exit 3) ---']
    """


def launch(commands, envs, timeout, cwd=None, log_dir=None):
    """Run `commands[i]` with environment `envs[i]` (added to this one) in parallel.

    Waits at most `timeout` seconds in all; whatever happens (timeout, error, Ctrl-C) every
    process still running is killed (its whole process group) before this returns or
    raises. Output goes to `log_dir/worker_<i>.log` when given (else a temporary file).
    Returns one `WorkerResult` per command; raises `WorkersFailed` (with the tail of each
    failing worker's output) when one exits non-zero or the time runs out.

    Args:
        commands: one argument list per process.
        envs: one dict of extra environment variables per process.
        timeout: seconds for all of them together, > 0.
        cwd: working folder of the processes (default: this one's).
        log_dir: folder for `worker_<i>.log` (default: a temporary folder).

    Example:
        >>> import sys
        >>> code = "import os; print(os.environ['ROLE'])"
        >>> results = launch([[sys.executable, "-c", code]] * 2, [{"ROLE": "a"}, {"ROLE": "b"}], timeout=60)
        >>> [(r.index, r.returncode, r.output.strip()) for r in results]
        [(0, 0, 'a'), (1, 0, 'b')]
    """
    import tempfile

    check_positive("timeout", timeout)
    if len(commands) != len(envs):
        raise ValueError(
            f"Arguments `commands` and `envs` must have the same length. Received: "
            f"{len(commands)} and {len(envs)}"
        )
    log_root = (
        Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="kerasopt_workers_"))
    )
    log_root.mkdir(parents=True, exist_ok=True)
    procs, logs = [], []
    try:
        for i, (command, extra) in enumerate(zip(commands, envs, strict=True)):
            log = open(log_root / f"worker_{i}.log", "w")  # noqa: SIM115 (closed in finally)
            logs.append(log)
            env = {**os.environ, **{k: str(v) for k, v in extra.items()}}
            procs.append(
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + timeout
        timed_out = False
        while any(p.poll() is None for p in procs):
            if time.monotonic() > deadline:
                timed_out = True
                break
            if any(p.poll() not in (None, 0) for p in procs):
                break  # one failed: the others would wait for it forever
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in logs:
            log.close()
    results = [
        WorkerResult(i, p.returncode, (log_root / f"worker_{i}.log").read_text())
        for i, p in enumerate(procs)
    ]
    failed = [r for r in results if r.returncode != 0]
    if timed_out or failed:
        reason = f"ran past {timeout} s" if timed_out else "failed"
        tails = "\n".join(
            f"--- worker {r.index} (exit {r.returncode}) ---\n{r.output[-3000:]}"
            for r in (failed or results)
        )
        raise WorkersFailed(f"Local workers {reason}:\n{tails}")
    return results


def launch_local(module, argv=(), n_workers=2, timeout=600, env=None, log_dir=None):
    """Run `python -m module *argv` as `n_workers` workers of a local cluster.

    Each worker gets a `TF_CONFIG` naming all of them on 127.0.0.1 (free ports) and its own
    index; worker 0 is the chief. Inside the module,
    `tf.distribute.MultiWorkerMirroredStrategy()` reads it. This is what
    `recipes.finetune --workers N` calls: `launch_local("recipes.finetune", argv_without_workers,
    n_workers=N)`; the recipe knows it is one of the workers by `in_cluster()`.

    Args:
        module: a module name runnable with `python -m`.
        argv: its command-line arguments (strings).
        n_workers: integer >= 1.
        timeout: seconds for the whole run, > 0; then every worker is killed.
        env: extra environment variables for every worker.
        log_dir: folder for `worker_<i>.log` (each worker's output).

    Returns:
        One `WorkerResult` per worker (raises `WorkersFailed` on failure or timeout).

    Example:
        Two workers of a module that exits at once (the standard library's `timeit`):

        >>> results = launch_local("timeit", ["-n", "1", "pass"], n_workers=2, timeout=60)
        >>> [(r.index, r.returncode) for r in results]
        [(0, 0), (1, 0)]
    """
    if not isinstance(module, str) or not module:
        raise TypeError(f"Argument `module` must be a module name. Received: module={module!r}")
    argv = [str(a) for a in argv]
    configs = local_tf_configs(n_workers)
    commands = [[sys.executable, "-m", module, *argv] for _ in configs]
    envs = [{**(env or {}), _TF_CONFIG: json.dumps(c)} for c in configs]
    return launch(commands, envs, timeout, cwd=os.getcwd(), log_dir=log_dir)


def keras_tuner_envs(n_workers, host="127.0.0.1"):
    """Environment of a keras-tuner distributed search on `host`: the chief (oracle server)
    and `n_workers` workers, from keras-tuner's `KERASTUNER_TUNER_ID`,
    `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`.

    Example:
        >>> envs = keras_tuner_envs(2)
        >>> [e["KERASTUNER_TUNER_ID"] for e in envs]
        ['chief', 'tuner0', 'tuner1']
    """
    check_int("n_workers", n_workers, minimum=1)
    port = free_port(host)
    ids = ["chief"] + [f"tuner{i}" for i in range(n_workers)]
    return [
        {
            "KERASTUNER_TUNER_ID": i,
            "KERASTUNER_ORACLE_IP": host,
            "KERASTUNER_ORACLE_PORT": str(port),
        }
        for i in ids
    ]
