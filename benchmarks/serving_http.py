"""`kerasopt serve` under load over loopback: throughput and latency against the in-process ceiling.

The coordinator's run (every target of issue 27 in one command; estimated at 10-15 minutes on a
quiet 2-core machine, not yet timed there: `--quick` took 12.5 minutes on the busy shared one):

    KERASOPT_ASSETS=/work/shared/assets python -m benchmarks.serving_http

    python -m benchmarks.serving_http --quick      # smoke test: 60 requests per row, 300 long

Model: a MobileNetV2 classifier (ImageNet backbone from the offline Keras cache, 224x224, a
2-class head; `kerasopt.transfer.build_classifier`), exported to ONNX and LiteRT into one
version folder of a TF Serving tree; the server measures both and serves the faster
(`kerasopt.serve.runtime`), then times its batch sizes and plans each batch as the cheapest
calls at them. The server runs as its own process (`python -m kerasopt.cli serve`, 127.0.0.1,
runtime threads = cores); the load comes from this process: asyncio clients (aiohttp,
keep-alive) each sending its next request as soon as the last is answered, a fixed number of
requests in all. A request is one ants-vs-bees photo (validation split), resized to 224x224 and
sent as a base64 JPEG, TF Serving's `{"instances": [{"b64": ...}]}`.

Rows: concurrency 1, 8 and 32, each with dynamic batching (max batch 32, 2 ms timeout) and
without (every request alone): requests/s, client-side p50 and p99 latency, failed requests.
Ceiling: the runtime the server chose, in-process on decoded images, at every batch size the
server may run (1, 2, 4, ..., 32; one model copy per size, sizes timed in turn, fastest call
of each): the best images/s and its batch size.
Long run: 10,000 requests at concurrency 32 with batching. The server's resident memory (RSS)
is read once it has served a 500-request warm-up (every model copy it will use exists from
start-up; the warm-up reaches the HTTP, decoding and batching paths), then every 1,000 requests
and after the 10,000, with the batch-size histogram (/metrics) after the warm-up and at the
end. Then a new version is renamed into the tree under load (swap), and SIGTERM is sent while
the load goes on: every request the server read must have been answered (its own count,
printed at exit, equals the clients' count of 200s). Writes benchmarks/results/serving_http.{json,md}.
"""

import argparse
import asyncio
import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kerasopt.cli._offline import find_assets, use_offline_keras_home  # noqa: E402  (keras-free)

ASSETS = find_assets()
use_offline_keras_home(ASSETS)

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks._machine import describe, load_note, provenance  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.export import export_litert, export_onnx, find_images, load_predictor  # noqa: E402
from kerasopt.serve.runtime import allowed_sizes, time_sizes  # noqa: E402
from kerasopt.transfer import backbone, build_classifier  # noqa: E402

SIZE = 224
ROOT = Path(__file__).resolve().parents[1]


def photos(folder, n):
    """n request bodies (one 224x224 JPEG each) and the decoded images they carry."""
    bodies, images = [], []
    for path in find_images([folder])[:n]:
        image = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()
        bodies.append(json.dumps({"instances": [{"b64": base64.b64encode(data).decode()}]}))
        images.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), "float32"))
    return bodies, np.stack(images)


def export_version(folder, seed):
    import keras

    keras.utils.set_random_seed(seed)
    base = backbone("mobilenet_v2", weights="imagenet", input_shape=(SIZE, SIZE, 3))
    model = build_classifier(base, 2)
    staging = folder.parent / f".staging-{folder.name}"
    export_onnx(model, staging / "model.onnx", class_names=["ants", "bees"])
    export_litert(model, staging / "model.tflite", class_names=["ants", "bees"])
    return staging


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`kerasopt serve` in a subprocess; `stop()` sends SIGTERM and returns its answered count."""

    def __init__(self, tree, batching, threads, runtime="auto"):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/models/{tree.name}:predict"
        command = [sys.executable, "-m", "kerasopt.cli", "serve", str(tree)]
        command += ["--port", str(self.port), "--threads", str(threads), "--max-batch-size", "32"]
        command += ["--batch-timeout-ms", "2", "--max-queue", "1024", "--poll-seconds", "1"]
        command += ["--runtime", runtime]
        if not batching:
            command.append("--no-batching")
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=self.log, text=True)
        health = f"http://127.0.0.1:{self.port}/healthz"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                asyncio.run(_get(health))
                break
            except (aiohttp.ClientError, OSError):
                time.sleep(0.5)
        else:
            raise RuntimeError(f"the server did not start: {self.text()}")

    def text(self):
        self.log.seek(0)
        return self.log.read()

    def rss(self):
        return psutil.Process(self.process.pid).memory_info().rss

    def metadata(self):
        """The server's own account: runtime, seconds per call by batch size, sizes it runs."""
        body = asyncio.run(_get(self.url.replace(":predict", "/metadata"), json_body=True))
        return body["kerasopt"]

    def batch_histogram(self):
        """{upper bound: model calls of at most that many images} from /metrics."""
        text = asyncio.run(_get(f"http://127.0.0.1:{self.port}/metrics", text_body=True))
        prefix = 'kerasopt_batch_size_bucket{le="'
        return {
            line[len(prefix) :].split('"')[0]: int(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(prefix)
        }

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)
        text = self.text()
        return int(text.rsplit("stopped: ", 1)[1].split()[0]), text


async def _get(url, json_body=False, text_body=False):
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        if json_body:
            return await response.json()
        return await response.text() if text_body else response.status


async def load(url, bodies, total, concurrency, on_progress=None, until_refused=False):
    """`total` requests from `concurrency` clients: (seconds, latencies, failures, statuses).
    `until_refused`: a client stops at its first connection error (the server has stopped)."""
    latencies, failures, statuses = [], [], {}
    issued = 0

    async def client(session):
        nonlocal issued
        while issued < total:
            i = issued
            issued += 1
            start = time.perf_counter()
            try:
                async with session.post(url, data=bodies[i % len(bodies)]) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, OSError) as error:
                status = type(error).__name__
                if until_refused:
                    failures.append(status)
                    return
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                latencies.append(time.perf_counter() - start)
            else:
                failures.append(status)
            if on_progress is not None:
                await on_progress(issued)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return seconds, latencies, failures, statuses


def summary(seconds, latencies, failures, total):
    lat = np.array(latencies) * 1000
    return {
        "requests": total,
        "failed": len(failures),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
    }


def in_process_ceiling(folder, runtime, threads, images, repeats=8):
    """The chosen runtime in-process at every batch size the server may run (one copy of the
    model per size, `kerasopt.serve.runtime.time_sizes`): images/s per size, and the best."""
    path = folder / ("model.onnx" if runtime == "onnx" else "model.tflite")
    instances = {size: load_predictor(path, threads=threads) for size in allowed_sizes(32)}
    seconds = time_sizes(instances, (SIZE, SIZE), repeats)
    per_size = {size: round(size / s, 1) for size, s in seconds.items()}
    best = max(per_size, key=per_size.get)
    top1 = instances[32](images[:32]).argmax(1)
    return {
        "runtime": runtime,
        "images_per_s": per_size[best],
        "batch_size": best,
        "images_per_s_by_batch_size": per_size,
        "ms_per_call_by_batch_size": {size: round(s * 1000, 2) for size, s in seconds.items()},
    }, top1


def long_run(tree, bodies, total, threads, staging2, runtime):
    """10,000 requests at concurrency 32 (batching) with RSS before and after, then a version
    swap under load (1,000 requests, the rename at the 200th), then SIGTERM under load."""
    server = Server(tree, True, threads, runtime)
    rss_started = server.rss()  # every model copy is created and warmed at start-up
    warm = asyncio.run(load(server.url, bodies, 500, 32))  # the HTTP, decoding, batching paths
    rss_before, batches_before = server.rss(), server.batch_histogram()
    trace = [(0, round(rss_before / 2**20, 1))]

    async def every_thousand(issued):  # called as each answer comes: once per thousand
        if issued % 1000 == 0 and issued > trace[-1][0]:
            trace.append((issued, round(server.rss() / 2**20, 1)))

    seconds, latencies, failures, statuses = asyncio.run(
        load(server.url, bodies, total, 32, every_thousand)
    )
    rss_after, batches_after = server.rss(), server.batch_histogram()
    swapped = {}

    async def swap(issued):
        if issued == 200 and not swapped:
            staging2.rename(tree / "2")
            swapped["at"] = issued

    async def swap_under_load():
        result = await load(server.url, bodies, 1000, 32, swap)
        deadline = time.monotonic() + 300  # the load goes on until version 2 serves
        while ("2", "AVAILABLE") not in await _status(server.url.replace(":predict", "")):
            if time.monotonic() > deadline:
                break
            more = await load(server.url, bodies, 64, 32)
            result[1].extend(more[1])
            result[2].extend(more[2])
        return result

    _, swap_latencies, swap_failures, _ = asyncio.run(swap_under_load())
    status = asyncio.run(_status(server.url.replace(":predict", "")))

    async def terminate_under_load():
        task = asyncio.ensure_future(load(server.url, bodies, 100_000, 8, until_refused=True))
        await asyncio.sleep(2.0)
        server.process.send_signal(signal.SIGTERM)
        return await task

    _, term_latencies, term_failures, term_statuses = asyncio.run(terminate_under_load())
    server.process.wait(120)
    text = server.text()
    answered = int(text.rsplit("stopped: ", 1)[1].split()[0])
    ok_total = len(warm[1]) + len(latencies) + len(swap_latencies) + len(term_latencies)
    refused = [f for f in term_failures if not isinstance(f, int)]
    return {
        **summary(seconds, latencies, failures, total),
        "statuses": {str(k): v for k, v in statuses.items()},
        "rss_started_mb": round(rss_started / 2**20, 1),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_trace_mb": trace,
        "batch_histogram_after_warm_up": batches_before,
        "batch_histogram_at_end": batches_after,
        "rss_after_mb": round(rss_after / 2**20, 1),
        "rss_growth": round(rss_after / rss_before - 1, 4),
        "swap_at_request": swapped.get("at"),
        "swap_requests": len(swap_latencies) + len(swap_failures),
        "swap_failed": len(swap_failures),
        "versions_after": status,
        "sigterm": {
            "requests_answered_by_clients": ok_total,
            "requests_answered_by_server": answered,
            "error_statuses_after_sigterm": [f for f in term_failures if isinstance(f, int)],
            "connections_refused_after_sigterm": len(refused),
            "exit_code": server.process.returncode,
        },
    }


async def _status(url):
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.json()
    return [(s["version"], s["state"]) for s in body["model_version_status"]]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="requests per row")
    parser.add_argument("--long", type=int, default=10_000, help="requests of the long run")
    parser.add_argument("--quick", action="store_true", help="smoke test: 60 per row, 300 long")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--render", action="store_true", help="only redo OUT/serving_http.md")
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads((args.out / "serving_http.json").read_text())
        write_text(args.out / "serving_http.md", render(result))
        return
    if args.quick:
        args.requests, args.long = 60, 300
    data = ASSETS / "datasets" / "hymenoptera_data" / "val" if ASSETS else None
    if data is None or not data.is_dir():
        parser.error("the ants-vs-bees photos are not in the offline assets (set KERASOPT_ASSETS)")
    info = describe(aiohttp=aiohttp.__version__)
    threads = os.cpu_count()
    started = time.perf_counter()
    bodies, images = photos(data, 64)
    work = Path(tempfile.mkdtemp(prefix="serving-http-"))
    try:
        tree = work / "ants_bees"
        export_version(tree / "1", 0).rename(tree / "1")
        staging2 = export_version(tree / "2", 1)

        rows, runtime, served = [], "auto", None
        for batching in (True, False):
            for concurrency in (1, 8, 32):
                server = Server(tree, batching, threads, runtime)
                # the first server measures the runtimes; the others reuse its choice
                if served is None:
                    served = server.metadata()
                    runtime = served["runtime"]
                asyncio.run(load(server.url, bodies, min(100, args.requests), concurrency))
                seconds, latencies, failures, _ = asyncio.run(
                    load(server.url, bodies, args.requests, concurrency)
                )
                server.stop()
                row = {"batching": batching, "concurrency": concurrency}
                row.update(summary(seconds, latencies, failures, args.requests))
                rows.append(row)
                print(row, flush=True)
        long = long_run(tree, bodies, args.long, threads, staging2, runtime)
        print(long, flush=True)
        ceiling, top1 = in_process_ceiling(tree / "1", runtime, threads, images)
        print(ceiling, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best32 = next(r for r in rows if r["batching"] and r["concurrency"] == 32)
    result = {
        "machine": info,
        "load_average_at_end": os.getloadavg(),
        "load_note": load_note(info),
        # the benchmark keeps the cores busy itself, so only the load before it tells whether
        # something else was running
        "quiet": info["load_average_at_start"][0] <= 0.5 * info["cores"],
        "config": {"requests_per_row": args.requests, "long": args.long, "quick": args.quick},
        "threads": threads,
        "seconds": round(time.perf_counter() - started, 1),
        "ceiling": ceiling,
        "ceiling_top1_classes": sorted({int(c) for c in top1}),
        "server_batch_plan": served,
        "rows": rows,
        "long_run": long,
        "headline": {
            "c=32 batched / in-process ceiling": best32["requests_per_s"] / ceiling["images_per_s"],
            "c=32 batched p99 / p50": best32["p99_ms"] / best32["p50_ms"],
            f"failed of {args.long}": long["failed"],
            "RSS growth": long["rss_growth"],
        },
    }
    write_json(args.out / "serving_http.json", result)
    markdown = render(json.loads((args.out / "serving_http.json").read_text()))
    write_text(args.out / "serving_http.md", markdown)
    print(markdown)


def _met(ok):
    return "met" if ok else "**not met**"


def _timing(ok, quiet):
    # a timing from a busy shared machine is reported, never claimed as a target met
    if quiet:
        return _met(ok) + " (quiet machine)"
    return ("within" if ok else "outside") + " the target on a busy machine: not claimed"


def _cumulative(histogram):
    """'<=1: a, <=2: b, ...' of a /metrics histogram, in order, up to the max batch size (32)."""
    bounds = sorted(float(k) for k in histogram if k != "+Inf" and float(k) <= 32)
    return ", ".join(f"<={b:g}: {histogram[f'{b:g}']}" for b in bounds)


def render(result):
    """The Markdown report of a serving_http.json."""
    info, ceiling, rows, long = (
        result["machine"],
        result["ceiling"],
        result["rows"],
        result["long_run"],
    )
    best32 = next(r for r in rows if r["batching"] and r["concurrency"] == 32)
    plan = result["server_batch_plan"]
    ratio = best32["requests_per_s"] / ceiling["images_per_s"]
    tail = best32["p99_ms"] / best32["p50_ms"]
    term = long["sigterm"]
    lines = [
        "# HTTP serving under load: `kerasopt serve` over loopback",
        "",
        f"MobileNetV2 2-class classifier, 224x224 JPEG requests (ants-vs-bees photos), one image "
        f"per request, TF Serving's REST API. Runtime picked by the server: {ceiling['runtime']} "
        f"({result['threads']} threads). Machine: {info['cpu']}, {info['cores']} cores, "
        f"{info['platform']}, Python {info['python']}, TensorFlow {info['tensorflow']}, aiohttp "
        f"{info['aiohttp']}. The load generator (this process) shares the cores with the server. "
        f"{result['load_note']} {provenance(info)} "
        f"({result['config']['requests_per_row']} requests per row after 100 of warm-up).",
        "",
        f"In-process ceiling: {ceiling['runtime']} on decoded images, the best of the batch "
        f"sizes the server may run: {ceiling['images_per_s']} images/s at batch "
        f"{ceiling['batch_size']}. Images/s by batch size: "
        + ", ".join(f"{k}: {v}" for k, v in ceiling["images_per_s_by_batch_size"].items())
        + f". The server timed the same sizes at start-up and runs batch sizes "
        f"{plan['batch_sizes_run']} (a batch runs as the cheapest calls at these sizes).",
        "",
        "| dynamic batching | concurrency | requests/s | x ceiling | p50 (ms) | p99 (ms) | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {'on' if r['batching'] else 'off'} | {r['concurrency']} | {r['requests_per_s']} | "
            f"{r['requests_per_s'] / ceiling['images_per_s']:.2f} | {r['p50_ms']} | {r['p99_ms']} | "
            f"{r['failed']} |"
        )
    lines += [
        "",
        f"Long run: {long['requests']:,} requests at concurrency 32 with batching, "
        f"{long['requests_per_s']} requests/s, p50 {long['p50_ms']} ms, p99 {long['p99_ms']} ms, "
        f"{long['failed']} failed. Server RSS {long['rss_started_mb']} MB once started (every "
        f"model copy created and warmed), {long['rss_before_mb']} MB after a 500-request "
        f"warm-up, {long['rss_after_mb']} MB after the run ({long['rss_growth']:+.1%}); every "
        "1,000 requests (requests: MB): "
        + ", ".join(f"{n:,}: {mb}" for n, mb in long["rss_trace_mb"])
        + ". Batches of at most 1, 2, 4, ... images (cumulative counts) after the warm-up: "
        f"{_cumulative(long['batch_histogram_after_warm_up'])}; at the end: "
        f"{_cumulative(long['batch_histogram_at_end'])}. Then "
        f"version 2 renamed into the tree at request {long['swap_at_request']} of "
        f"{long['swap_requests']:,} at concurrency 32: {long['swap_failed']} failed (versions "
        f"after: {long['versions_after']}). SIGTERM under load (8 clients): the server "
        f"answered {term['requests_answered_by_server']:,} requests, the clients received "
        f"{term['requests_answered_by_clients']:,} answers; error statuses after SIGTERM: "
        f"{len(term['error_statuses_after_sigterm'])}; connections refused once it stopped "
        f"listening: {term['connections_refused_after_sigterm']}; exit code {term['exit_code']}.",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| concurrency 32 >= 0.8x in-process batched throughput (batch {ceiling['batch_size']}) | {ratio:.2f}x | {_timing(ratio >= 0.8, result.get('quiet', False))} |",
        f"| p99 <= 3x p50 at concurrency 32 | {tail:.2f}x | {_timing(tail <= 3, result.get('quiet', False))} |",
        f"| 0 failed of {long['requests']:,} | {long['failed']} | {_met(long['failed'] == 0)} |",
        f"| RSS growth < 5% | {long['rss_growth']:+.1%} | {_met(long['rss_growth'] < 0.05)} |",
        f"| swap under load loses nothing | {long['swap_failed']} failed of {long['swap_requests']:,} | "
        + _met(long["swap_failed"] == 0 and ["2", "AVAILABLE"] in long["versions_after"])
        + " |",
        "| SIGTERM under load loses nothing | server answered "
        f"{term['requests_answered_by_server']:,}, clients got {term['requests_answered_by_clients']:,} | "
        + _met(
            term["requests_answered_by_server"] == term["requests_answered_by_clients"]
            and not term["error_statuses_after_sigterm"]
        )
        + " |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
