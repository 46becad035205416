"""Serve a model over HTTP with TF Serving's REST API.

    kerasopt serve MODEL [--port 8501] [--host 127.0.0.1] [--name NAME] [--runtime auto]
        [--no-batching] [--max-batch-size 32] [--batch-timeout-ms 2] [--max-queue 256]
        [--max-body-mb 16] [--max-pixels 16777216] [--poll-seconds 2] [--threads N]

MODEL is a run folder written by `kerasopt finetune` (model.keras), an export (a SavedModel
folder, an `.onnx` or a `.tflite` file) or a TF Serving version tree NAME/VERSION/ (a new
VERSION/ folder is picked up while serving; the old version is unloaded once its requests are
answered). The runtime is the fastest measured at start-up among those available (a run folder
is also exported to ONNX and LiteRT when the `export` extra is installed). Clients written for
TF Serving work unchanged:

    curl -d '{"instances": [{"b64": "'$(base64 -w0 bee.jpg)'"}]}' \\
        http://127.0.0.1:8501/v1/models/NAME:predict

The server listens on 127.0.0.1 only, unless --host names another address. SIGTERM (or Ctrl-C)
stops accepting requests, answers those in flight, then exits. Needs `pip install
kerasopt[serve]`. Errors before serving print one line, `error: ...`, exit status 2.
"""

import logging
import sys
from pathlib import Path

from kerasopt.cli._cli import ArgumentParser, CliError, run

RUNTIMES = ("auto", "keras", "saved_model", "onnx", "litert")


def _positive(flag, value):
    if value <= 0:
        raise CliError(f"argument {flag}: must be positive; received {value}")


def _main(argv=None):
    parser = ArgumentParser(prog="kerasopt serve", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "model", type=Path, help="run folder, SavedModel, .onnx, .tflite or NAME/VERSION/ tree"
    )
    parser.add_argument("--port", type=int, default=8501, help="TCP port (default 8501)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine)"
    )
    parser.add_argument("--name", help="the model's name in the URLs (default: MODEL's name)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto", help="default: fastest")
    parser.add_argument("--threads", type=int, help="CPU threads of ONNX Runtime or LiteRT")
    parser.add_argument(
        "--no-batching", action="store_true", help="run every request alone (no dynamic batching)"
    )
    parser.add_argument("--max-batch-size", type=int, default=32, help="images per model call")
    parser.add_argument(
        "--batch-timeout-ms",
        type=float,
        default=2.0,
        help="how long a batch waits for more requests (default 2 ms)",
    )
    parser.add_argument(
        "--max-queue", type=int, default=256, help="waiting requests before answering 503"
    )
    parser.add_argument("--max-body-mb", type=float, default=16.0, help="largest request body")
    parser.add_argument(
        "--max-pixels", type=int, default=4096 * 4096, help="largest image, height x width"
    )
    parser.add_argument(
        "--poll-seconds", type=float, default=2.0, help="new-version check period (0: never)"
    )
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        raise CliError(f"argument --port: must be in 1..65535; received {args.port}")
    for flag, value in (
        ("--max-batch-size", args.max_batch_size),
        ("--max-queue", args.max_queue),
        ("--max-body-mb", args.max_body_mb),
        ("--max-pixels", args.max_pixels),
        ("--threads", args.threads or 1),
    ):
        _positive(flag, value)
    if args.batch_timeout_ms < 0 or args.poll_seconds < 0:
        raise CliError("arguments --batch-timeout-ms and --poll-seconds must be >= 0")
    if not args.model.exists():
        raise CliError(f"{args.model} does not exist: pass a run folder, an export or a NAME/ tree")
    try:
        from aiohttp import web
    except ImportError:
        raise CliError("kerasopt serve needs aiohttp: pip install 'kerasopt[serve]'") from None

    from kerasopt.serve import ModelRepository
    from kerasopt.serve.app import SERVER, create_app

    logging.basicConfig(level=logging.INFO, format="kerasopt serve: %(message)s", stream=sys.stderr)
    repository = ModelRepository(
        args.model,
        name=args.name,
        runtime=args.runtime,
        batch_size=args.max_batch_size,
        threads=args.threads,
    )
    app = create_app(
        repository,
        batching=not args.no_batching,
        max_batch_size=args.max_batch_size,
        batch_timeout_ms=args.batch_timeout_ms,
        max_queue=args.max_queue,
        max_body_bytes=int(args.max_body_mb * (1 << 20)),
        max_pixels=args.max_pixels,
        poll_seconds=args.poll_seconds,
    )
    version = repository.current
    print(
        f"kerasopt serve: {repository.name} version {version.number} on {version.runtime} at "
        f"http://{args.host}:{args.port}/v1/models/{repository.name}",
        file=sys.stderr,
        flush=True,
    )
    web.run_app(
        app, host=args.host, port=args.port, shutdown_timeout=60, access_log=None, print=None
    )
    return app[SERVER].answered


def main(argv=None):
    """The command, with one-line errors (`kerasopt.cli._cli.run`)."""
    return run(_main, argv)


if __name__ == "__main__":
    main()
