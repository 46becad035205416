"""TF Serving's REST API against a live server on 127.0.0.1: predictions, status, metadata,
bad input (each answered 4xx, the next good request still served) and a full queue (503)."""

import base64
import io
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasopt.export import Predictor
from kerasopt.serve import ModelRepository, create_app
from tests.serve._http import encode, random_pixels, request


def keras_top1(model, pixels):
    """model.predict on each raw image, one at a time (the model resizes it itself)."""
    return [int(model.predict(p[None].astype("float32"), verbose=0)[0].argmax()) for p in pixels]


@pytest.mark.reference("serve.create_app", "serve.ModelRepository", "export.Predictor")
def test_tf_serving_request_gives_model_predict_top1(tree, versions, live):
    server = live(create_app(ModelRepository(tree), batch_timeout_ms=5))
    model = versions[1][0]
    sizes = [(20, 30), (16, 16), (41, 17), (9, 12)]
    pixels = [random_pixels(1, h, w, seed=i)[0] for i, (h, w) in enumerate(sizes)]
    reference = keras_top1(model, pixels)

    status, body = request(
        f"{server.url}/v1/models/clf:predict", {"instances": [encode(p) for p in pixels]}
    )
    assert status == 200
    assert np.argmax(body["predictions"], axis=1).tolist() == reference
    np.testing.assert_allclose(np.sum(body["predictions"], axis=1), 1.0, atol=1e-5)
    # nested arrays, the columnar "inputs" form and the versioned URL give the same answer
    status, columnar = request(
        f"{server.url}/v1/models/clf/versions/1:predict",
        {"inputs": {"images": [p.tolist() for p in pixels]}},
    )
    assert status == 200
    np.testing.assert_allclose(columnar["outputs"], body["predictions"], atol=1e-5)

    assert request(f"{server.url}/v1/models/clf")[1]["model_version_status"][0] == {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
    meta = request(f"{server.url}/v1/models/clf/metadata")[1]
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    dims = [d["size"] for d in signature["inputs"]["images"]["tensor_shape"]["dim"]]
    assert dims == ["-1", "16", "16", "3"] and meta["kerasopt"]["class_names"] == [
        "ants",
        "bees",
        "wasps",
    ]
    assert request(f"{server.url}/healthz") == (
        200,
        {"status": "ok", "model": "clf", "version": 1},
    )
    metrics = request(f"{server.url}/metrics")[1]
    assert 'kerasopt_requests_total{route="predict",code="200"} 1' in metrics
    assert "kerasopt_request_seconds_count 2" in metrics
    assert "kerasopt_batch_size_count 2" in metrics


def _jpeg(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _b64(data):
    return {"b64": base64.b64encode(data).decode()}


def _bad_requests():
    good = encode(random_pixels(1)[0])
    jpeg = _jpeg(random_pixels(1, 64, 64)[0])
    bomb = io.BytesIO()
    Image.new("RGB", (1500, 1000)).save(bomb, "PNG")  # 1.5 Mpixel in a few kB
    return {
        "malformed JSON": (b'{"instances": [', 400, "malformed JSON"),
        "wrong shape": ({"instances": [good, [[0, 0], [0, 0]]]}, 400, "instances[1]"),
        "ragged array": ({"instances": [good, [[[0, 0, 0], [0, 0]]]]}, 400, "instances[1]"),
        "not an image": ({"instances": [good, _b64(b"GIF89a not a picture")]}, 400, "instances[1]"),
        "not base64": ({"instances": [{"b64": "%%%"}]}, 400, "instances[0]"),
        "truncated JPEG": (
            {"instances": [good, _b64(jpeg[: len(jpeg) // 2])]},
            400,
            "instances[1]",
        ),
        "over the pixel limit": ({"instances": [_b64(bomb.getvalue())]}, 413, "instances[0]"),
        "body over the limit": (b"[" + b"0," * 600_000 + b"0]", 413, "request body"),
        "no instances": ({"examples": []}, 400, "instances"),
        "unknown model": ("other", 404, "no model named 'other'"),
        "unknown version": ("versions/7", 404, "no available version 7"),
    }


def test_each_bad_input_gets_its_4xx_and_the_next_good_request_succeeds(tree, live):
    server = live(create_app(ModelRepository(tree), max_body_bytes=1 << 20, max_pixels=1 << 20))
    good = {"instances": [encode(random_pixels(1, seed=5)[0])]}
    for case, (body, status, words) in _bad_requests().items():
        url = f"{server.url}/v1/models/clf:predict"
        if isinstance(body, str):
            url = f"{server.url}/v1/models/{body if body == 'other' else 'clf/' + body}:predict"
            body = good
        answer = request(url, body)
        assert answer[0] == status, (case, answer)
        assert isinstance(answer[1], dict) and words in answer[1]["error"], (case, answer)
        ok = request(f"{server.url}/v1/models/clf:predict", good)
        assert ok[0] == 200 and len(ok[1]["predictions"]) == 1, (case, ok)


@pytest.mark.reference("serve.QueueFull")
def test_a_full_queue_answers_503_at_once(live):
    release = threading.Event()

    def slow(images):
        release.wait(20)
        return np.full((len(images), 2), 0.5, "float32")

    repo = ModelRepository.from_predictor("slow", Predictor(slow, "keras", ["a", "b"], (4, 4)))
    server = live(create_app(repo, batching=False, max_queue=2))
    body = {"instances": [np.zeros((4, 4, 3)).tolist()]}
    results = [None] * 8

    def send(i):
        start = time.perf_counter()
        status, _ = request(f"{server.url}/v1/models/slow:predict", body)
        results[i] = (status, time.perf_counter() - start)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    deadline = time.monotonic() + 20
    while sum(r is not None for r in results) < len(results) - 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = [r for r in results if r is not None]
    release.set()  # the model was held the whole time: every answer so far is a refusal
    for thread in threads:
        thread.join(30)
    # one request runs, two wait (max_queue=2): the other five are refused, none of them late
    assert len(refused) == 5 and all(status == 503 for status, _ in refused), results
    assert sorted(status for status, _ in results) == [200] * 3 + [503] * 5
    assert request(f"{server.url}/v1/models/slow:predict", body)[0] == 200


def test_served_resize_is_tensorflow_bilinear():
    from kerasopt.serve.images import resize

    image = np.random.default_rng(0).uniform(0, 255, (13, 29, 3)).astype("float32")
    expected = tf.image.resize(image, (16, 16), method="bilinear").numpy()
    np.testing.assert_allclose(resize(image, (16, 16)), expected, atol=1e-3)
    assert resize(image, (13, 29)) is image
