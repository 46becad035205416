"""kerasopt.distributed: who writes, the local launcher (always stops its workers), and
multi-worker training / distributed keras-tuner search on 127.0.0.1 (a brief variant of each
in the default run, the longer ones with `-m slow`)."""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kerasopt import distributed

ROOT = Path(__file__).resolve().parents[1]


def cfg(task_type, index, cluster):
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.reference("distributed.is_chief")
def test_is_chief_follows_tensorflows_rule():
    workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    with_chief = {"chief": ["127.0.0.1:0"], **workers}
    assert distributed.is_chief("")  # no cluster
    assert distributed.is_chief(cfg("worker", 0, workers))
    assert not distributed.is_chief(cfg("worker", 1, workers))
    assert distributed.is_chief(cfg("chief", 0, with_chief))
    assert not distributed.is_chief(cfg("worker", 0, with_chief))
    assert distributed.in_cluster(cfg("worker", 1, workers))
    assert not distributed.in_cluster("")


@pytest.mark.reference("distributed.chief_only")
def test_chief_only_skips_other_workers(monkeypatch):
    calls = []
    monkeypatch.setenv("TF_CONFIG", cfg("worker", 1, {"worker": ["a:1", "b:2"]}))
    assert distributed.chief_only(calls.append, 1) is None
    monkeypatch.setenv("TF_CONFIG", cfg("worker", 0, {"worker": ["a:1", "b:2"]}))
    distributed.chief_only(calls.append, 2)
    assert calls == [2]


@pytest.mark.reference("distributed.local_tf_configs", "distributed.free_port")
def test_local_configs_use_distinct_loopback_ports():
    configs = distributed.local_tf_configs(3)
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert all(c["cluster"]["worker"] == addresses for c in configs)
    with pytest.raises(ValueError, match="Argument `n_workers`"):
        distributed.local_tf_configs(0)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_launch_kills_every_worker_on_timeout(tmp_path):
    sleeper = [
        sys.executable,
        "-c",
        "import os, time; print(os.getpid(), flush=True); time.sleep(60)",
    ]
    start = time.monotonic()
    with pytest.raises(distributed.WorkersFailed, match="ran past"):
        distributed.launch([sleeper, sleeper], [{}, {}], timeout=3, log_dir=tmp_path)
    assert time.monotonic() - start < 20
    pids = [int((tmp_path / f"worker_{i}.log").read_text().split()[0]) for i in range(2)]
    assert not any(_alive(pid) for pid in pids)


@pytest.mark.reference("distributed.launch", "distributed.WorkersFailed")
def test_launch_stops_the_others_when_one_fails(tmp_path):
    fail = [sys.executable, "-c", "import sys; sys.exit(3)"]
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    start = time.monotonic()
    with pytest.raises(distributed.WorkersFailed, match="exit 3"):
        distributed.launch([fail, sleeper], [{}, {}], timeout=60, log_dir=tmp_path)
    assert time.monotonic() - start < 20


def _only_the_chief_wrote(results, folder):
    """The launcher's two workers: worker 0 is the chief and wrote the run, worker 1 nothing."""
    assert [("chief=True" in r.output, "chief=False" in r.output) for r in results] == [
        (True, False),
        (False, True),
    ]
    assert not (folder / "worker_1").exists()  # the non-chief wrote nothing
    written = sorted(
        p.relative_to(folder / "worker_0").as_posix()
        for p in (folder / "worker_0").rglob("*")
        if p.is_file()
    )
    assert written == [
        "metrics.json",
        "snapshots/manifest.json",
        "snapshots/snapshot_001.keras",
        "snapshots/snapshot_002.keras",
        "weights.npz",
    ]
    assert json.loads((folder / "worker_0" / "metrics.json").read_text())["workers"] == 2


def _same_weights(reference, folder):
    """The final raw weights, Averaged's averages and model B's weights in `folder`'s chief
    equal the reference run's (1e-5: the same float32 sums, reduced in another order)."""
    a, b = (
        np.load(reference / "worker_0" / "weights.npz"),
        np.load(folder / "worker_0" / "weights.npz"),
    )
    assert sorted(a.files) == sorted(b.files) and any(k.startswith("a_average_") for k in a.files)
    for key in a.files:
        np.testing.assert_allclose(b[key], a[key], atol=1e-5, rtol=0, err_msg=key)


WORKER = ["--worker", "--epochs", "2", "--work"]


@pytest.mark.slow
@pytest.mark.reference(
    "distributed.launch_local",
    "distributed.multi_worker_strategy",
    "distributed.WorkerResult",
    "distributed.in_cluster",
)
def test_two_workers_train_like_one_and_only_the_chief_writes(tmp_path):
    """benchmarks.multi_worker's worker: Averaged(SGD(OneCycle)) + SwapAveragedWeights and
    Lookahead(RMSpropNesterov) + SnapshotEnsemble, global batch 32, 2 epochs, as a 1-worker and
    a 2-worker cluster (~1 min)."""
    one, two = tmp_path / "one", tmp_path / "two"
    distributed.launch_local("benchmarks.multi_worker", WORKER + [one], n_workers=1, timeout=240)
    results = distributed.launch_local(
        "benchmarks.multi_worker", WORKER + [two], n_workers=2, timeout=240
    )
    _only_the_chief_wrote(results, two)
    _same_weights(one, two)


@pytest.mark.reference(
    "distributed.launch_local",
    "distributed.multi_worker_strategy",
    "distributed.WorkerResult",
    "distributed.in_cluster",
)
def test_two_workers_train_like_this_process_and_only_the_chief_writes(tmp_path):
    """The default run's variant: the 2-worker cluster against the same training in this
    process under TensorFlow's default strategy (no cluster, no third process)."""
    import tensorflow as tf

    from benchmarks import multi_worker

    one, two = tmp_path / "one", tmp_path / "two"
    results = distributed.launch_local(
        "benchmarks.multi_worker", WORKER + [two], n_workers=2, timeout=240
    )
    _only_the_chief_wrote(results, two)
    multi_worker.train(tf.distribute.get_strategy(), one, 2)
    _same_weights(one, two)


def _distributed_search(folder, trials, per_round, epochs):
    """A chief (the oracle server, gRPC on 127.0.0.1) and two tuners run a CoarseToFineSearch of
    `trials` trials, `per_round` per round; returns the trial ids each process ran."""
    envs = [{**e, "PYTHONPATH": str(ROOT)} for e in distributed.keras_tuner_envs(2)]
    command = [sys.executable, str(ROOT / "tests" / "distributed" / "kt_worker.py"), str(folder)]
    command += [str(trials), str(per_round), str(epochs)]
    results = distributed.launch([command] * 3, envs, timeout=300, cwd=ROOT)
    ran = {
        r.index: [line.split()[-1] for line in r.output.splitlines() if " runs trial " in line]
        for r in results
    }
    assert ran[0] == []  # the chief only serves the oracle
    assert sorted(ran[1] + ran[2]) == [str(i) for i in range(trials)]  # each trial once
    state = json.loads((folder / "distributed" / "oracle.json").read_text())
    assert sorted(state["coarse_to_fine"]["round_of"].items()) == [
        (str(i), i // per_round) for i in range(trials)
    ]
    for trial in (folder / "distributed").glob("trial_*/trial.json"):
        assert json.loads(trial.read_text())["status"] == "COMPLETED"
    return ran


@pytest.mark.slow
@pytest.mark.reference("distributed.keras_tuner_envs")
def test_distributed_keras_tuner_search_with_two_workers(tmp_path):
    """6 trials in 2 rounds of 3, 2 epochs each (~1 min); both workers run trials."""
    ran = _distributed_search(tmp_path, 6, 3, 2)
    assert ran[1] and ran[2]


@pytest.mark.reference("distributed.keras_tuner_envs")
def test_distributed_keras_tuner_search_in_brief(tmp_path):
    """The default run's variant: 4 trials in 2 rounds of 2, 1 epoch each. Which worker runs
    which trial depends on when each starts, so only the split of the trials is checked."""
    _distributed_search(tmp_path, 4, 2, 1)
