"""The server's counters in Prometheus' text exposition format (version 0.0.4).

`kerasopt_requests_total{route, code}` counts answered requests; `kerasopt_request_seconds` is
a latency histogram of predict requests (cumulative `_bucket{le=...}` counts, `_sum`,
`_count`); `kerasopt_batch_size` is a histogram of the number of images per batch (one run
of the model: a few calls at its planned batch sizes, `kerasopt.serve.runtime.plan_batches`);
`kerasopt_queue_depth` is a gauge of the waiting requests. Source: Prometheus' exposition
formats (prometheus.io/docs/instrumenting/exposition_formats).
"""

import bisect
import threading

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    """Counts of observations per bucket upper bound, with their sum.

    Example:
        >>> from kerasopt.serve.metrics import Histogram
        >>> h = Histogram((1, 2))
        >>> for v in (0.5, 1.5, 3):
        ...     h.observe(v)
        >>> h.lines("x")
        ['x_bucket{le="1"} 1', 'x_bucket{le="2"} 2', 'x_bucket{le="+Inf"} 3', 'x_sum 5', 'x_count 3']
    """

    def __init__(self, buckets):
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0

    def observe(self, value):
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    def lines(self, name):
        out, total = [], 0
        for bound, count in zip((*self.buckets, "+Inf"), self.counts, strict=True):
            total += count
            out.append(f'{name}_bucket{{le="{bound}"}} {total}')
        return out + [f"{name}_sum {self.sum:g}", f"{name}_count {total}"]


class Metrics:
    """Request counts, predict latency and batch sizes of one server.

    Example:
        >>> from kerasopt.serve import Metrics
        >>> metrics = Metrics()
        >>> metrics.count("predict", 200, seconds=0.004)
        >>> metrics.batch(8)
        >>> text = metrics.render(queue_depth=3)
        >>> 'kerasopt_requests_total{route="predict",code="200"} 1' in text
        True
        >>> [line for line in text.splitlines() if line.startswith(("kerasopt_request_seconds_count",
        ...     'kerasopt_batch_size_bucket{le="8"}', "kerasopt_queue_depth"))]
        ['kerasopt_request_seconds_count 1', 'kerasopt_batch_size_bucket{le="8"} 1', 'kerasopt_queue_depth 3']
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = {}
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)

    def count(self, route, code, seconds=None):
        """One answered request (`seconds`: its latency, for predict requests)."""
        with self._lock:
            self.requests[route, code] = self.requests.get((route, code), 0) + 1
            if seconds is not None:
                self.latency.observe(seconds)

    def batch(self, size):
        """One batch of `size` images run by the model."""
        with self._lock:
            self.batch_size.observe(size)

    def render(self, queue_depth=0):
        """The exposition text."""
        with self._lock:
            lines = [
                "# HELP kerasopt_requests_total Requests answered, by route and HTTP status.",
                "# TYPE kerasopt_requests_total counter",
            ]
            lines += [
                f'kerasopt_requests_total{{route="{route}",code="{code}"}} {n}'
                for (route, code), n in sorted(self.requests.items())
            ]
            lines += [
                "# HELP kerasopt_request_seconds Latency of predict requests.",
                "# TYPE kerasopt_request_seconds histogram",
                *self.latency.lines("kerasopt_request_seconds"),
                "# HELP kerasopt_batch_size Images per batch run by the model.",
                "# TYPE kerasopt_batch_size histogram",
                *self.batch_size.lines("kerasopt_batch_size"),
                "# HELP kerasopt_queue_depth Requests waiting for the model.",
                "# TYPE kerasopt_queue_depth gauge",
                f"kerasopt_queue_depth {queue_depth}",
            ]
        return "\n".join(lines) + "\n"
