"""kerasopt.distributed: who writes, the local launcher (always stops its workers), and
multi-worker training / distributed keras-tuner search on 127.0.0.1 (`-m slow`)."""

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


@pytest.mark.slow
@pytest.mark.reference(
    "distributed.launch_local",
    "distributed.multi_worker_strategy",
    "distributed.WorkerResult",
    "distributed.in_cluster",
)
def test_two_workers_train_like_one_and_only_the_chief_writes(tmp_path):
    """benchmarks.multi_worker's worker: Averaged(SGD(OneCycle)) + SwapAveragedWeights and
    Lookahead(RMSpropNesterov) + SnapshotEnsemble, global batch 32, 2 epochs (~1 min)."""
    args = ["--worker", "--epochs", "2", "--out"]
    one, two = tmp_path / "one", tmp_path / "two"
    distributed.launch_local("benchmarks.multi_worker", args + [one], n_workers=1, timeout=240)
    results = distributed.launch_local(
        "benchmarks.multi_worker", args + [two], n_workers=2, timeout=240
    )
    assert [("chief=True" in r.output, "chief=False" in r.output) for r in results] == [
        (True, False),
        (False, True),
    ]
    a, b = np.load(one / "worker_0" / "weights.npz"), np.load(two / "worker_0" / "weights.npz")
    assert sorted(a.files) == sorted(b.files) and any(k.startswith("a_average_") for k in a.files)
    for key in a.files:
        np.testing.assert_allclose(b[key], a[key], atol=1e-5, rtol=0, err_msg=key)
    assert not (two / "worker_1").exists()  # the non-chief wrote nothing
    written = sorted(
        p.relative_to(two / "worker_0").as_posix()
        for p in (two / "worker_0").rglob("*")
        if p.is_file()
    )
    assert written == [
        "metrics.json",
        "snapshots/manifest.json",
        "snapshots/snapshot_001.keras",
        "snapshots/snapshot_002.keras",
        "weights.npz",
    ]
    assert json.loads((two / "worker_0" / "metrics.json").read_text())["workers"] == 2


@pytest.mark.slow
@pytest.mark.reference("distributed.keras_tuner_envs")
def test_distributed_keras_tuner_search_with_two_workers(tmp_path):
    """Chief (oracle server, gRPC on 127.0.0.1) and two tuners run a CoarseToFineSearch (~1 min)."""
    envs = [{**e, "PYTHONPATH": str(ROOT)} for e in distributed.keras_tuner_envs(2)]
    command = [sys.executable, str(ROOT / "tests" / "distributed" / "kt_worker.py"), str(tmp_path)]
    results = distributed.launch([command] * 3, envs, timeout=300, cwd=ROOT)
    ran = {
        r.index: [line.split()[-1] for line in r.output.splitlines() if " runs trial " in line]
        for r in results
    }
    assert ran[0] == [] and ran[1] and ran[2]  # the chief only serves the oracle
    assert sorted(ran[1] + ran[2]) == [str(i) for i in range(6)]
    state = json.loads((tmp_path / "distributed" / "oracle.json").read_text())
    assert sorted(state["coarse_to_fine"]["round_of"].items()) == [
        (str(i), i // 3) for i in range(6)
    ]
    for trial in (tmp_path / "distributed").glob("trial_*/trial.json"):
        assert json.loads(trial.read_text())["status"] == "COMPLETED"
