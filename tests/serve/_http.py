"""HTTP helpers for the serve tests: a live in-process server and a urllib client."""

import asyncio
import base64
import io
import json
import threading
import urllib.error
import urllib.request

import numpy as np
from PIL import Image


class LiveServer:
    """An aiohttp application served on 127.0.0.1:PORT from a thread; `close()` shuts it down
    as a signal would (stop listening, finish requests in flight, clean up)."""

    def __init__(self, app):
        from aiohttp import web

        self.app = app
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        started = threading.Event()

        def serve():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = self._runner.addresses[0][1]
            started.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert started.wait(30), "the server did not start in 30 s"
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(60)


def request(url, body=None, timeout=30):
    """(status, parsed JSON or text) of a GET (body None) or a POST; HTTP errors are returned."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def encode(pixels, fmt="PNG"):
    """{"b64": ...} of a uint8 (height, width, 3) array encoded as PNG or JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, "uint8")).save(buffer, fmt)
    return {"b64": base64.b64encode(buffer.getvalue()).decode()}


def random_pixels(n, height=20, width=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)
