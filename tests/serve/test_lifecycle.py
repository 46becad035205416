"""Under load (a few client threads, each bounded in requests and time): a new version swapped
in fails no request, and SIGTERM answers every request the server accepted before it exits."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from kerasopt.serve import ModelRepository, create_app
from tests.serve._http import encode, random_pixels, request

ROOT = Path(__file__).resolve().parents[2]


class Load:
    """`clients` threads posting `body` to `url` until `stop()`, at most `limit` requests each
    and `seconds` in all; `answers` holds (status, body or the exception's type name) in the
    order they came, `by_client[i]` those of client i in its order."""

    def __init__(self, url, body, clients=4, limit=400, seconds=60):
        self.answers, self._stop = [], threading.Event()
        self.by_client = [[] for _ in range(clients)]
        self._lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def client(i):
            for _ in range(limit):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    answer = request(url, body, timeout=30)
                except OSError as error:  # refused or reset: the server no longer accepts
                    answer = (None, type(error).__name__)
                with self._lock:
                    self.answers.append(answer)
                    self.by_client[i].append(answer)

        self._threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in self._threads:
            thread.start()

    def ok(self):
        return sum(status == 200 for status, _ in self.answers)

    def wait_for(self, n, seconds=120):
        """Wait until `n` requests have been answered 200."""
        deadline = time.monotonic() + seconds
        while self.ok() < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.ok() >= n, f"only {self.ok()} answered in {seconds} s: {self.answers[-3:]}"

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        return self.answers


def _predictions(version_folder, images):
    from kerasopt.export import load_predictor

    return load_predictor(next(Path(version_folder).glob("*.onnx")))(images)


def test_a_new_version_under_load_fails_no_request_and_the_old_one_is_unloaded(
    tree, versions, live
):
    repo = ModelRepository(tree)
    server = live(create_app(repo, batch_timeout_ms=2, poll_seconds=0.2))
    pixels = random_pixels(2, 16, 16, seed=3)
    expected = {n: _predictions(versions[n][1], pixels.astype("float32")) for n in (1, 2)}
    old = repo.current
    load = Load(f"{server.url}/v1/models/clf:predict", {"instances": [encode(p) for p in pixels]})
    load.wait_for(20)
    staging = tree / ".incoming-2"  # written aside, then renamed into place
    shutil.copytree(versions[2][1], staging)
    staging.rename(tree / "2")
    deadline = time.monotonic() + 30
    while old.state != "END" and time.monotonic() < deadline:
        time.sleep(0.05)
    load.wait_for(load.ok() + 20)
    answers = load.stop()

    assert [status for status, _ in answers] == [200] * len(answers)

    def version_of(body):
        got = np.array(body["predictions"])
        match = [n for n in (1, 2) if np.allclose(got, expected[n], atol=1e-5)]
        assert len(match) == 1, got
        return match[0]

    served = [version_of(body) for _, body in answers]
    assert served[:5] == [1] * 5 and served[-5:] == [2] * 5
    for client in load.by_client:  # each client's requests follow one another: one swap, never back
        seen = [version_of(body) for _, body in client]
        assert seen == sorted(seen)
    assert old.state == "END" and old.predictor is None  # the old version is unloaded
    status = request(f"{server.url}/v1/models/clf")[1]["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("2", "AVAILABLE"), ("1", "END")]
    assert request(f"{server.url}/v1/models/clf/versions/1:predict", {"instances": []})[0] == 404


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_under_load_answers_every_accepted_request_then_exits(tree):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    server = subprocess.Popen(
        [sys.executable, "-m", "kerasopt.cli", "serve", str(tree), "--port", str(port)]
        + ["--batch-timeout-ms", "30", "--max-batch-size", "64"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300  # importing TensorFlow on a busy machine is slow
        while True:
            try:
                if request(f"{url}/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no server"
                time.sleep(0.2)
        load = Load(
            f"{url}/v1/models/clf:predict",
            {"instances": [encode(random_pixels(1, seed=1)[0])]},
            clients=6,
        )
        load.wait_for(30)
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
        answers = load.stop()
    finally:
        server.kill()
    assert server.returncode == 0, err
    answered = int(err.rsplit("stopped: ", 1)[1].split()[0])
    ok = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] is None]
    assert len(ok) + len(refused) == len(answers), answers  # no error status at all
    assert len(ok) == answered >= 30  # every request the server read was answered
    assert refused, "the load should have outlived the server"
