"""A tiny classifier served from a TF Serving version tree on 127.0.0.1.

The server runs in this process (an aiohttp runner in a thread, on a free port:
`tests.serve._http.LiveServer`), except for the SIGTERM test, which needs a process of its own.
The client is urllib: a new connection per request, as a plain TF Serving client would make.
"""

import shutil

import pytest

from kerasopt.export import export_onnx
from tests.export._models import tiny_classifier
from tests.serve._http import LiveServer

CLASSES = ["ants", "bees", "wasps"]


@pytest.fixture(scope="session")
def versions(tmp_path_factory):
    """Two different tiny classifiers (seeds 0 and 1) and their ONNX exports:
    {1: (model, version folder), 2: (model, version folder)}."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for number in (1, 2):
        model = tiny_classifier(len(CLASSES), seed=number - 1)
        export_onnx(model, root / str(number) / "model.onnx", class_names=CLASSES)
        out[number] = (model, root / str(number))
    return out


@pytest.fixture
def tree(tmp_path, versions):
    """A version tree clf/1/ holding version 1."""
    root = tmp_path / "clf"
    shutil.copytree(versions[1][1], root / "1")
    return root


@pytest.fixture
def live():
    """`live(app)` -> a started `LiveServer`, closed after the test."""
    servers = []

    def start(app):
        servers.append(LiveServer(app))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
