"""The HTTP application (aiohttp): TF Serving's REST API, a health check and metrics.

Routes (TF Serving's REST API, https://www.tensorflow.org/tfx/serving/api_rest):
- `GET /v1/models/NAME[/versions/N]`: version status;
- `GET /v1/models/NAME[/versions/N]/metadata`: the signature (input "images", output
  "probabilities") plus kerasopt's class names and the measured runtime;
- `POST /v1/models/NAME[/versions/N]:predict`: `{"instances": [...]}` -> `{"predictions":
  [...]}`, `{"inputs": ...}` -> `{"outputs": ...}` (see `kerasopt.serve.images`);
- `GET /healthz`: 200 while serving; `GET /metrics`: Prometheus text (`kerasopt.serve.metrics`).

Every error is JSON `{"error": "..."}`: 400 for a bad request (the message names the example at
fault), 404 for an unknown model or version, 413 for a body over `max_body_bytes` or an image
over `max_pixels`, 503 at once when the request queue is full. Request bodies are parsed and
images decoded in a small thread pool, so the event loop keeps accepting requests. On shutdown
(aiohttp stops listening, then waits for the requests in flight) the queued requests finish
before the model is unloaded.
"""

import asyncio
import concurrent.futures
import logging
import time

from aiohttp import web

from kerasopt.export.serving import IMAGES, PROBABILITIES
from kerasopt.serve.batching import Batcher, QueueFull
from kerasopt.serve.images import InputError, parse_request
from kerasopt.serve.metrics import Metrics

log = logging.getLogger("kerasopt.serve")

NAME = r"{name:[^/:]+}"
VERSION = r"{version:\d+}"


def _error(status, message):
    return web.json_response({"error": message}, status=status)


def _tensor(name, dims):
    return {
        "dtype": "DT_FLOAT",
        "tensor_shape": {
            "dim": [{"size": str(d), "name": ""} for d in dims],
            "unknown_rank": False,
        },
        "name": name,
    }


class _Server:
    def __init__(self, repository, batcher, metrics, max_pixels, poll_seconds):
        self.repository, self.batcher, self.metrics = repository, batcher, metrics
        self.max_pixels, self.poll_seconds = max_pixels, poll_seconds
        self.decode = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="decode")
        self.answered = 0
        self._poller = None

    def _version(self, request):
        name = request.match_info["name"]
        if name != self.repository.name:
            raise web.HTTPNotFound(
                text=f"no model named {name!r}; this server serves {self.repository.name!r}"
            )
        number = request.match_info.get("version")
        return None if number is None else int(number)

    async def status(self, request):
        number = self._version(request)
        status = self.repository.status()
        if number is not None:
            status["model_version_status"] = [
                s for s in status["model_version_status"] if s["version"] == str(number)
            ]
            if not status["model_version_status"]:
                raise web.HTTPNotFound(
                    text=f"model {self.repository.name!r} has no version {number}"
                )
        return web.json_response(status)

    async def metadata(self, request):
        version = self.repository.get(self._version(request))
        if version is None:
            raise web.HTTPNotFound(text="no such version available")
        try:
            predictor = version.predictor
            height, width = predictor.image_size or (-1, -1)
            classes = len(predictor.class_names) if predictor.class_names else -1
            signature = {
                "inputs": {IMAGES: _tensor(IMAGES, (-1, height, width, 3))},
                "outputs": {PROBABILITIES: _tensor(PROBABILITIES, (-1, classes))},
                "method_name": "tensorflow/serving/predict",
            }
            body = {
                "model_spec": {
                    "name": self.repository.name,
                    "signature_name": "",
                    "version": str(version.number),
                },
                "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}},
                "kerasopt": {
                    "class_names": predictor.class_names,
                    "runtime": version.runtime,
                    "seconds_per_image": version.timings,
                    "seconds_per_call_by_batch_size": getattr(predictor, "seconds", None),
                    "batch_sizes_run": sorted(getattr(predictor, "instances", ())),
                    "batching": self.batcher.get_config(),
                },
            }
        finally:
            version.release()
        return web.json_response(body)

    async def predict(self, request):
        number = self._version(request)
        body = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge (413)
        version = self.repository.get(number)
        if version is None:
            raise web.HTTPNotFound(
                text=f"model {self.repository.name!r} has no available version {number}"
            )
        try:
            images, key = await asyncio.get_running_loop().run_in_executor(
                self.decode,
                parse_request,
                body,
                IMAGES,
                version.predictor.image_size,
                self.max_pixels,
            )
            outputs = await self.batcher.submit(version, images)
        finally:
            version.release()
        self.answered += 1
        return web.json_response(
            {"predictions" if key == "instances" else "outputs": outputs.tolist()}
        )

    async def health(self, request):
        return web.json_response(
            {
                "status": "ok",
                "model": self.repository.name,
                "version": self.repository.current.number,
            }
        )

    async def metrics_text(self, request):
        return web.Response(text=self.metrics.render(self.batcher.depth), content_type="text/plain")

    @web.middleware
    async def errors(self, request, handler):
        start = time.perf_counter()
        route = request.match_info.route.name or "other"
        try:
            response = await handler(request)
        except InputError as error:
            response = _error(error.status, str(error))
        except QueueFull as error:
            response = _error(503, f"{error}; retry later")
        except web.HTTPRequestEntityTooLarge as error:
            response = _error(413, f"request body over the limit: {error.text}")
        except web.HTTPException as error:
            response = _error(error.status, error.text or error.reason)
        except Exception as error:  # a bug or a model failure: answer 500, keep serving
            log.exception("error while answering %s", request.path)
            response = _error(500, f"internal error: {type(error).__name__}: {error}")
        seconds = time.perf_counter() - start if route.startswith("predict") else None
        self.metrics.count(route, response.status, seconds)
        return response

    async def _poll(self):
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.poll_seconds)
            number = await loop.run_in_executor(None, self.repository.poll)
            if number is not None:
                log.info("serving version %s of %s", number, self.repository.name)

    async def on_startup(self, app):
        self.batcher.start()
        if self.repository.tree and self.poll_seconds:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def on_cleanup(self, app):
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self.batcher.stop()
        self.decode.shutdown(wait=True)
        self.repository.close()
        log.info("stopped: %d predict requests answered", self.answered)


SERVER = web.AppKey("server", _Server)


def create_app(
    repository,
    batching=True,
    max_batch_size=32,
    batch_timeout_ms=2.0,
    max_queue=256,
    max_body_bytes=16 << 20,
    max_pixels=4096 * 4096,
    poll_seconds=2.0,
):
    """The aiohttp application serving `repository` (a `kerasopt.serve.ModelRepository`).

    Args:
        repository: the model and its versions.
        batching: dynamic batching on (`kerasopt.serve.Batcher`'s `enabled`).
        max_batch_size: at most this many images per model call.
        batch_timeout_ms: how long a batch waits for more requests.
        max_queue: waiting requests beyond which a request is answered 503.
        max_body_bytes: the largest request body; a larger one is answered 413.
        max_pixels: the largest image (height x width); a larger one is answered 413.
        poll_seconds: how often a version tree is checked for a new version (0: never).

    Returns:
        A `web.Application`; `app[SERVER].answered` counts the predict requests answered.

    Example:
        >>> import numpy as np
        >>> from kerasopt.export import Predictor
        >>> from kerasopt.serve import ModelRepository, create_app
        >>> p = Predictor(lambda x: np.full((len(x), 2), 0.5, "float32"), "keras", ["a", "b"], (4, 4))
        >>> app = create_app(ModelRepository.from_predictor("clf", p))
        >>> sorted({r.name for r in app.router.routes() if r.name})[:3]
        ['health', 'metadata', 'metadata_version']
    """
    if not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ValueError(
            f"Argument `max_body_bytes` must be a positive integer. Received: max_body_bytes={max_body_bytes!r}"
        )
    if not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(
            f"Argument `max_pixels` must be a positive integer. Received: max_pixels={max_pixels!r}"
        )
    metrics = Metrics()
    batcher = Batcher(
        lambda version, images: version.predictor(images),
        on_batch=metrics.batch,
        enabled=batching,
        max_batch_size=max_batch_size,
        timeout_ms=batch_timeout_ms,
        max_queue=max_queue,
    )
    server = _Server(repository, batcher, metrics, max_pixels, poll_seconds)
    app = web.Application(client_max_size=max_body_bytes, middlewares=[server.errors])
    app[SERVER] = server
    base = f"/v1/models/{NAME}"
    with_version = f"{base}/versions/{VERSION}"
    app.router.add_get(base, server.status, name="status")
    app.router.add_get(with_version, server.status, name="status_version")
    app.router.add_get(f"{base}/metadata", server.metadata, name="metadata")
    app.router.add_get(f"{with_version}/metadata", server.metadata, name="metadata_version")
    app.router.add_post(f"{base}:predict", server.predict, name="predict")
    app.router.add_post(f"{with_version}:predict", server.predict, name="predict_version")
    app.router.add_get("/healthz", server.health, name="health")
    app.router.add_get("/metrics", server.metrics_text, name="metrics")
    app.on_startup.append(server.on_startup)
    app.on_cleanup.append(server.on_cleanup)
    return app
