"""Dynamic batching with a bounded queue, as TF Serving's batching does.

A request (a batch of one or more images for one model version) joins a queue of at most
`max_queue` requests; a full queue refuses it at once (`QueueFull`, which the server answers
with 503). One worker takes the first waiting request, then keeps taking requests that arrive
within `timeout_ms` of it, up to `max_batch_size` images (TF Serving's `max_batch_size` and
`batch_timeout_micros`), and runs them as one call of the model per (version, image shape),
in a worker thread so the event loop keeps accepting requests. With batching off, every
request runs alone. `stop()` lets the queued requests finish first.
"""

import asyncio
import concurrent.futures

import numpy as np

from kerasopt._validation import check_bool, check_int, check_number


class QueueFull(Exception):
    """The request queue is full: answer 503 now rather than later.

    Example:
        >>> import asyncio, numpy as np
        >>> from kerasopt.serve import Batcher, QueueFull
        >>> async def overfill():
        ...     batcher = Batcher(lambda v, x: x, max_queue=1)
        ...     batcher.start()
        ...     first = batcher.submit("v", np.ones((1, 1)))
        ...     try:
        ...         batcher.submit("v", np.ones((1, 1)))
        ...     except QueueFull as error:
        ...         refused = str(error)
        ...     await first
        ...     await batcher.stop()
        ...     return refused
        >>> asyncio.run(overfill())
        'the request queue is full (1 waiting)'
    """


class Batcher:
    """Queue requests and run them in dynamic batches.

    Args:
        run: `run(version, images) -> outputs` (called in a worker thread), e.g.
            `lambda version, x: version.predictor(x)`.
        enabled: dynamic batching on (True) or every request alone (False).
        max_batch_size: at most this many images per call (a larger request still runs, alone).
        timeout_ms: how long the first request of a batch waits for others, >= 0.
        max_queue: at most this many waiting requests; more raise `QueueFull`.
        on_batch: None, or a callable receiving each batch's number of images (metrics).

    Source: TF Serving's batching guide (tensorflow/serving, batching/README.md).

    Example:
        >>> import asyncio, numpy as np
        >>> from kerasopt.serve.batching import Batcher
        >>> sizes = []
        >>> async def demo():
        ...     batcher = Batcher(lambda v, x: x.sum(axis=1), timeout_ms=50, on_batch=sizes.append)
        ...     batcher.start()
        ...     out = await asyncio.gather(*(batcher.submit("v1", np.ones((1, 2))) for _ in range(3)))
        ...     await batcher.stop()
        ...     return [o.tolist() for o in out]
        >>> asyncio.run(demo()), sizes
        ([[2.0], [2.0], [2.0]], [3])
    """

    def __init__(
        self, run, enabled=True, max_batch_size=32, timeout_ms=2.0, max_queue=256, on_batch=None
    ):
        self._run = run
        self.enabled = check_bool("enabled", enabled)
        self.max_batch_size = check_int("max_batch_size", max_batch_size, minimum=1)
        self.timeout = check_number("timeout_ms", timeout_ms) / 1000.0
        if self.timeout < 0:
            raise ValueError(
                f"Argument `timeout_ms` must be >= 0. Received: timeout_ms={timeout_ms}"
            )
        self.max_queue = check_int("max_queue", max_queue, minimum=1)
        self._on_batch = on_batch
        self._queue = None
        self._worker = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")

    def get_config(self):
        """The batching settings."""
        return {
            "enabled": self.enabled,
            "max_batch_size": self.max_batch_size,
            "timeout_ms": self.timeout * 1000.0,
            "max_queue": self.max_queue,
        }

    @property
    def depth(self):
        """Requests waiting in the queue."""
        return 0 if self._queue is None else self._queue.qsize()

    def start(self):
        """Start the worker (in the running event loop)."""
        self._queue = asyncio.Queue(self.max_queue)
        self._worker = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self):
        """Finish every queued request, then stop the worker and its thread."""
        if self._worker is not None:
            await self._queue.join()
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        self._thread.shutdown(wait=True)

    def submit(self, version, images):
        """Queue `images` (n, ...) for `version`; returns a future of its n outputs.

        Raises:
            QueueFull: `max_queue` requests are already waiting.
        """
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((version, images, future))
        except asyncio.QueueFull:
            raise QueueFull(f"the request queue is full ({self.max_queue} waiting)") from None
        return future

    async def _collect(self):
        first = await self._queue.get()
        batch, size = [first], len(first[1])
        if not self.enabled:
            return batch
        deadline = asyncio.get_running_loop().time() + self.timeout
        while size < self.max_batch_size:
            if self._queue.empty():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            batch.append(item)
            size += len(item[1])
        return batch

    async def _serve(self):
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            groups = {}
            for item in batch:
                groups.setdefault((id(item[0]), item[1].shape[1:]), []).append(item)
            for items in groups.values():
                await self._run_group(loop, items)
            for _ in batch:
                self._queue.task_done()

    async def _run_group(self, loop, items):
        live = [item for item in items if not item[2].cancelled()]
        if not live:
            return
        images = np.concatenate([item[1] for item in live])
        if self._on_batch is not None:
            self._on_batch(len(images))
        try:
            outputs = await loop.run_in_executor(self._thread, self._run, live[0][0], images)
        except Exception as error:  # the model failed: every request of the batch hears why
            for item in live:
                if not item[2].done():
                    item[2].set_exception(error)
            return
        start = 0
        for _, part, future in live:
            if not future.done():
                future.set_result(outputs[start : start + len(part)])
            start += len(part)
