"""Run every benchmark and write `benchmarks/results/summary.md`.

    python -m benchmarks                     # every module's --quick mode, into a scratch folder
    python -m benchmarks --only ensemble_inference augmentation_throughput
    python -m benchmarks --full              # default modes, into benchmarks/results (long)

Benchmarks are discovered, not listed: every `benchmarks/NAME.py` whose name does not start
with an underscore, run as `python -m benchmarks.NAME [--quick] --out FOLDER` in its own
process (its output goes to FOLDER/NAME.log; a line per module shows progress). A module that
needs a device this machine may lack says so with a module-level string, e.g.
`NEEDS_DEVICE = "GPU"`; it is read from the source (the module is not imported) and the
module is skipped with a line saying so. The summary is a table of each benchmark's headline
figures, read from the `headline` mapping of its NAME.json, with the machine description,
the date and the mode (quick or full).
"""

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
SUMMARY = HERE / "results" / "summary.md"


def discover(folder=HERE):
    """[(name, needs)] for every benchmark module in `folder`, in name order; `needs` is the
    module's `NEEDS_DEVICE` string (None when it runs anywhere)."""
    found = []
    for path in sorted(Path(folder).glob("*.py")):
        if path.name.startswith("_"):
            continue
        needs = None
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "NEEDS_DEVICE" for t in node.targets)
                and isinstance(node.value, ast.Constant)
            ):
                needs = node.value.value or None
        found.append((path.stem, needs))
    return found


def format_value(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3g}"


def headline(result_file):
    """The `headline` mapping of a benchmark's JSON as 'label: value' text ('' if none)."""
    data = json.loads(Path(result_file).read_text(encoding="utf-8"))
    figures = data.get("headline")
    if not figures:
        return "(no `headline` in its JSON; see its Markdown)"
    text = "; ".join(f"{label}: {format_value(value)}" for label, value in figures.items())
    return text.replace("|", "\\|")  # a table cell


def run_module(package, name, out, quick, cwd):
    """Run `python -m package.name [--quick] --out out` and return (exit status, seconds)."""
    command = [sys.executable, "-m", f"{package}.{name}", "--out", str(out)]
    if quick:
        command.append("--quick")
    start = time.perf_counter()
    with open(Path(out) / f"{name}.log", "w", encoding="utf-8") as log:
        status = subprocess.run(
            command,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        ).returncode
    return status, time.perf_counter() - start


def summary_markdown(rows, machine, quick, out, date):
    from benchmarks._machine import provenance

    mode = (
        "quick (each module's `--quick` configuration: a smoke run; its figures are indicative "
        "only, the per-benchmark files in `benchmarks/results/` hold the full runs)"
        if quick
        else "full (each module's default configuration)"
    )
    lines = [
        "# Summary of every benchmark",
        "",
        f"Made by `python -m benchmarks{'' if quick else ' --full'}` on {date}. Mode: {mode}. "
        f"Results folder of this run: `{out}`.",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}; Python "
        f"{machine['python']}, TensorFlow {machine['tensorflow']}, Keras {machine['keras']}. "
        f"{machine['load']}",
        provenance(machine),
        "",
        "| benchmark | status | seconds | headline figures |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['name']} | {r['status']} | {r['seconds']} | {r['headline']} |" for r in rows]
    return "\n".join(lines) + "\n"


def run_all(out, quick=True, only=None, folder=HERE, summary=SUMMARY, log=print):
    """Run the discovered benchmarks into `out`, write `summary`, return the rows."""
    from benchmarks._machine import describe, load_note
    from kerasopt._io import write_text

    folder = Path(folder)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    machine = describe()
    modules = [(n, needs) for n, needs in discover(folder) if not only or n in only]
    rows = []
    for i, (name, needs) in enumerate(modules, 1):
        prefix = f"[{i}/{len(modules)}] {name}"
        if needs:
            log(f"{prefix}: skipped, needs a {needs} (NEEDS_DEVICE)")
            rows.append(
                {
                    "name": name,
                    "status": f"skipped: needs a {needs}",
                    "seconds": "",
                    "headline": "",
                }
            )
            continue
        log(f"{prefix}: running ({'quick' if quick else 'full'}; log {out / (name + '.log')})")
        status, seconds = run_module(folder.name, name, out, quick, cwd=folder.parent)
        result = out / f"{name}.json"
        if status == 0 and result.exists():
            row = {"status": "ok", "headline": headline(result)}
        else:
            row = {"status": f"failed (exit status {status}; see {name}.log)", "headline": ""}
        rows.append({"name": name, "seconds": f"{seconds:.0f}", **row})
        log(f"{prefix}: {row['status']} in {seconds:.0f} s")
    machine["load"] = load_note(machine)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    write_text(Path(summary), summary_markdown(rows, machine, quick, out, date))
    log(f"wrote {summary}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="run the default (full) modes into benchmarks/results instead of --quick",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results folder (default: a new scratch folder; with --full, benchmarks/results)",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--summary", type=Path, default=SUMMARY, help="where summary.md goes")
    args = parser.parse_args(argv)
    names = [name for name, _ in discover()]
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {names}")
    out = args.out or (
        HERE / "results" if args.full else Path(tempfile.mkdtemp(prefix="benchmarks_quick_"))
    )
    rows = run_all(out, quick=not args.full, only=args.only, summary=args.summary)
    return 1 if any(r["status"].startswith("failed") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
