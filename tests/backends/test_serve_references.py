"""The server on every backend (CI's JAX pass included): a `.keras` version served by
`create_app(ModelRepository(...))` answers TF Serving's predict request with the probabilities
of the saved model's own `predict`, and a full queue raises `QueueFull`. (Beside the matrix it
feeds, as tests/serve has another owner this session; tests/serve holds the ONNX/LiteRT cases.)"""

import asyncio

import keras
import numpy as np
import pytest

from kerasopt.serve import Batcher, ModelRepository, QueueFull, create_app
from tests.serve._http import LiveServer, request

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.mark.reference("serve.create_app", "serve.ModelRepository")
def test_predict_request_answers_the_saved_models_probabilities(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    (tmp_path / "clf" / "1").mkdir(parents=True)
    model.save(tmp_path / "clf" / "1" / "model.keras")
    pixels = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3)).astype("float32")
    expected = model.predict(pixels, verbose=0)
    repository = ModelRepository(tmp_path / "clf", runtime="keras")
    assert (repository.name, repository.current.number, repository.current.runtime) == (
        "clf",
        1,
        "keras",
    )
    server = LiveServer(create_app(repository, batch_timeout_ms=5, poll_seconds=0))
    try:
        status, body = request(
            f"{server.url}/v1/models/clf:predict", {"instances": pixels.tolist()}
        )
    finally:
        server.close()
    assert status == 200, body
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.reference("serve.QueueFull")
def test_a_request_beyond_max_queue_raises_queue_full():
    async def main():
        batcher = Batcher(lambda version, x: x, max_queue=2)
        batcher.start()  # its worker first runs at the next await: nothing drains before
        waiting = [batcher.submit("v", np.zeros((1, 1))) for _ in range(2)]
        with pytest.raises(QueueFull, match=r"the request queue is full \(2 waiting\)"):
            batcher.submit("v", np.zeros((1, 1)))
        await asyncio.gather(*waiting)  # the two queued requests are still answered
        await batcher.stop()

    asyncio.run(main())
