"""`python -m benchmarks`: discovery, device skips, quick runs and the summary, on fake benchmarks
(the real ones are far too heavy for the default run), plus the convention every real module
must follow."""

import ast
import re
from pathlib import Path

from benchmarks.__main__ import discover, run_all
from kerasopt._platform import cpuinfo

ROOT = Path(__file__).resolve().parents[1]

FAKE_OK = """
import argparse
import json
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = {"headline": {"speed-up": 1.23456, "quick": args.quick, "calls": 12345, "|a - b|": 0.5}}
    (args.out / "fake_ok.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
"""


def _fake_package(root):
    package = root / "fakebench"
    package.mkdir()
    (package / "fake_ok.py").write_text(FAKE_OK)
    (package / "fake_gpu.py").write_text('NEEDS_DEVICE = "GPU"\nraise SystemExit("ran")\n')
    (package / "fake_fail.py").write_text("raise SystemExit(3)\n")
    (package / "_helper.py").write_text("raise SystemExit('a helper is not a benchmark')\n")
    return package


def test_discovery_reads_the_device_flag_without_importing(tmp_path):
    assert discover(_fake_package(tmp_path)) == [
        ("fake_fail", None),
        ("fake_gpu", "GPU"),
        ("fake_ok", None),
    ]


def test_quick_run_and_summary(tmp_path):
    package = _fake_package(tmp_path)
    progress = []
    rows = run_all(
        tmp_path / "out",
        quick=True,
        folder=package,
        summary=tmp_path / "summary.md",
        log=progress.append,
    )
    assert [r["name"] for r in rows] == ["fake_fail", "fake_gpu", "fake_ok"]
    summary = (tmp_path / "summary.md").read_text()
    # the fake ran with --quick into the scratch folder; its headline is read from its JSON
    assert "| fake_ok | ok |" in summary
    assert "speed-up: 1.23; quick: True; calls: 12,345; \\|a - b\\|: 0.5 |" in summary
    assert (tmp_path / "out" / "fake_ok.json").exists()
    assert "| fake_gpu | skipped: needs a GPU |" in summary
    assert "failed (exit status 3; see fake_fail.log)" in summary
    assert "Mode: quick" in summary
    assert cpuinfo("model name") in summary
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", summary)
    assert any(line.startswith("[2/3] fake_gpu: skipped") for line in progress)
    assert any(line.startswith("[3/3] fake_ok: ok in") for line in progress)


def _main_signature_and_options(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    main = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"), None)
    options = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    return main, options


def test_every_real_benchmark_follows_the_convention():
    modules = [name for name, _ in discover(ROOT / "benchmarks")]
    assert "ensemble_inference" in modules and "__main__" not in modules
    for name in modules:
        main, options = _main_signature_and_options(ROOT / "benchmarks" / f"{name}.py")
        assert main is not None, f"{name}: no main()"
        arguments = main.args
        assert [a.arg for a in arguments.args] == ["argv"] and len(arguments.defaults) == 1, (
            f"{name}: main must be main(argv=None)"
        )
        assert {"--quick", "--out"} <= options, f"{name}: needs --quick and --out"
