"""The backend matrix of docs/guides/backends.md: each public object x TensorFlow / JAX / PyTorch,
generated from the outcomes of the reference tests, read from JUnit XML.

A test that checks a public object against an independent reference says so with
`@pytest.mark.reference("namespace.Name")` (`tests/backends/reference.py`, which also writes
the objects and the backend into the JUnit XML as properties). A cell says what was run:

- "✓": at least one reference test of the object ran and passed on that backend, and none
  failed there.
- "failed": a reference test of the object failed (or errored) on that backend.
- "skipped": every reference test of the object that was collected there skipped.
- JAX, "TensorFlow by nature": export, tf.distribute and tf.data pipelines (`NATURE`); the
  cell gives the reason.
- JAX, "`BackendError`": the object, called in a subprocess on KERAS_BACKEND=jax (placeholder
  `None` for each required argument), refused the backend; the cell is that error's message.
- Otherwise "not verified": no reference test of the object ran on that backend.
- PyTorch is "not tested here": this project's machines have no PyTorch wheel.

Commands:

    python -m tests.backends.matrix --run --write docs/guides/backends.md    # make backend-matrix
    python -m tests.backends.matrix --junit DIR --write docs/guides/backends.md
    python -m tests.backends.matrix --junit DIR --check docs/guides/backends.md   # CI

`--run` runs the reference tests on TensorFlow, then the portable ones on JAX, writing JUnit
XML into a temporary folder. `--check` fails (exit 1) when the page claims a ✓ that the JUnit
files in DIR (CI's own runs) do not back, naming each claim and the outcome found.
"""

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- backend-matrix:start -->", "<!-- backend-matrix:end -->"
BACKENDS = ("tensorflow", "jax")
PASS, FAIL, SKIP = "✓", "failed", "skipped"
NOT_VERIFIED, NO_TORCH = "not verified", "not tested here"

# What is TensorFlow-only by nature on JAX (a namespace, or one object), with the reason the
# page gives: the export formats, tf.distribute, and the tf.data pipelines.
_EXPORT = (
    "TensorFlow by nature: SavedModel, ONNX (tf2onnx) and LiteRT export trace a TensorFlow "
    "graph, and images are decoded with tf.io; on JAX save a `.keras` file"
)
_TF_DATA = (
    "TensorFlow by nature: it builds a tf.data pipeline; on JAX use `image_sequences` "
    "(a keras.utils.PyDataset)"
)
NATURE = {
    "kerasopt.export": _EXPORT,
    "kerasopt.ensembles.export": _EXPORT,
    "kerasopt.transfer.export_serving": _EXPORT,
    "kerasopt.distributed": (
        "TensorFlow by nature: multi-worker training is tf.distribute "
        "(MultiWorkerMirroredStrategy, TF_CONFIG); JAX's counterpart, jax.distributed, is not "
        "wrapped here"
    ),
    "kerasopt.transfer.image_dataset": _TF_DATA,
    "kerasopt.transfer.image_folder": _TF_DATA,
    "kerasopt.transfer.DataUnavailableError": (
        "TensorFlow by nature: raised by the tf.data and TensorFlow Datasets sources of "
        "`image_dataset`"
    ),
}


_PROBE = r"""
import importlib, inspect, json, sys
from kerasopt._backend import BackendError
from tests._public_api import namespaces, public_objects

def required(obj):
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in parameters
    )

errors = {}
for namespace in namespaces():
    for name, obj in public_objects(namespace):
        n = required(obj)
        if n is None or (n == 0 and not inspect.isclass(obj)):
            continue  # nothing to bind: a zero-argument function would do its real work
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            continue
        try:
            result = obj(*[None] * n)
            if inspect.isgenerator(result):
                next(result)
        except BackendError as error:
            errors[name] = str(error)
        except Exception:
            pass
print(json.dumps(errors))
"""


def jax_errors():
    """{qualified name: BackendError message} of the objects that refuse the JAX backend."""
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=str(ROOT),
    )
    with tempfile.TemporaryDirectory() as scratch:  # placeholder calls write nothing here
        result = subprocess.run(
            [sys.executable, "-c", _PROBE],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if result.returncode != 0:
        raise RuntimeError(f"the JAX probe failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- outcomes from JUnit XML ---------------------------------------------------------------


def junit_files(paths):
    """The .xml files among `paths` (files, or folders searched for *.xml)."""
    out = []
    for path in map(Path, paths):
        out += sorted(path.glob("*.xml")) if path.is_dir() else [path]
    return out


def read_outcomes(paths):
    """{backend: {qualified name: Counter(passed=, failed=, skipped=)}} from the reference
    tests' testcases in the JUnit files (pytest's junitxml; properties `reference`, `backend`).
    Testcases without a `reference` property are not reference tests and are ignored. A test
    run again in a newer file (by modification time) counts with its newer outcome only."""
    latest = {b: {} for b in BACKENDS}  # backend -> {test id: (names, outcome)}
    for path in sorted(junit_files(paths), key=lambda p: p.stat().st_mtime):
        for case in ET.parse(path).getroot().iter("testcase"):
            props = [(p.get("name"), p.get("value")) for p in case.iter("property")]
            names = [v for k, v in props if k == "reference"]
            if not names:
                continue
            backend = dict(props).get("backend")
            if backend not in latest:
                raise ValueError(f"{path}: testcase {case.get('name')} has backend={backend!r}")
            tags = {child.tag for child in case}
            failed, skipped = tags & {"failure", "error"}, "skipped" in tags
            outcome = "failed" if failed else "skipped" if skipped else "passed"
            latest[backend][(case.get("classname"), case.get("name"))] = (names, outcome)
    outcomes = {b: {} for b in BACKENDS}
    for backend, cases in latest.items():
        for names, outcome in cases.values():
            for name in names:
                outcomes[backend].setdefault(name, Counter())[outcome] += 1
    return outcomes


def outcome_cell(counts):
    """The cell one backend's counts give, or None when no reference test was collected."""
    if not counts:
        return None
    if counts["failed"]:
        return FAIL
    return PASS if counts["passed"] else SKIP


# -- the table --------------------------------------------------------------------------


def rows(outcomes, errors=None):
    """(namespace, object name, TensorFlow cell, JAX cell, PyTorch cell), in namespace order."""
    from tests._public_api import namespaces, public_objects

    errors = jax_errors() if errors is None else errors
    out = []
    for namespace in namespaces():
        for name, _ in public_objects(namespace):
            tf_cell = outcome_cell(outcomes["tensorflow"].get(name)) or NOT_VERIFIED
            jax_cell = outcome_cell(outcomes["jax"].get(name))
            if jax_cell not in (PASS, FAIL):
                nature = NATURE.get(name, NATURE.get(namespace))
                if nature:
                    jax_cell = nature
                elif name in errors:
                    jax_cell = "`BackendError`: " + errors[name]
                else:
                    jax_cell = jax_cell or NOT_VERIFIED
            jax_cell = jax_cell.replace("|", "\\|")
            out.append((namespace, name.rsplit(".", 1)[1], tf_cell, jax_cell, NO_TORCH))
    return out


def render(table):
    """The generated block of the page: the totals, then one table per namespace."""
    lines = [START, ""]

    def count(column, test):
        return sum(test(r[column]) for r in table)

    tf = {
        PASS: count(2, lambda c: c == PASS),
        FAIL: count(2, lambda c: c == FAIL),
        SKIP: count(2, lambda c: c == SKIP),
        NOT_VERIFIED: count(2, lambda c: c == NOT_VERIFIED),
    }
    jax = {
        PASS: count(3, lambda c: c == PASS),
        "TensorFlow by nature": count(3, lambda c: c.startswith("TensorFlow by nature")),
        "TensorFlow-only (named `BackendError`)": count(3, lambda c: c.startswith("`Backend")),
        FAIL: count(3, lambda c: c == FAIL),
        SKIP: count(3, lambda c: c == SKIP),
        NOT_VERIFIED: count(3, lambda c: c == NOT_VERIFIED),
    }

    def summary(counts):
        return ", ".join(f"{n} {label}" for label, n in counts.items() if n or label == PASS)

    lines.append(
        f"{len(table)} public objects. TensorFlow: {summary(tf)}. JAX: {summary(jax)}. "
        "PyTorch: not tested here."
    )
    for namespace in dict.fromkeys(r[0] for r in table):
        lines += ["", f"### `{namespace}`", "", "| object | TensorFlow | JAX | PyTorch |"]
        lines.append("|---|---|---|---|")
        lines += [f"| `{r[1]}` | {r[2]} | {r[3]} | {r[4]} |" for r in table if r[0] == namespace]
    lines += ["", END]
    return "\n".join(lines)


def generated_block(text):
    """The generated block of a page's text, or None when the markers are missing."""
    if START not in text or END not in text:
        return None
    return text[text.index(START) : text.index(END) + len(END)]


def page_cells(block):
    """{(backend, qualified name): cell} of a generated block, read back from its tables."""
    cells, namespace = {}, None
    for line in block.splitlines():
        heading = re.fullmatch(r"### `(kerasopt\.\w+)`", line)
        if heading:
            namespace = heading.group(1)
            continue
        parts = [p.strip() for p in re.split(r"(?<!\\)\|", line)[1:-1]]
        if namespace and len(parts) == 4 and parts[0].startswith("`"):
            name = f"{namespace}.{parts[0].strip('`')}"
            cells[("tensorflow", name)], cells[("jax", name)] = parts[1], parts[2]
    return cells


def claimed_outcomes(block):
    """The outcomes a page claims, in read_outcomes' form: one passed, failed or skipped test
    per ✓, "failed" or "skipped" cell (what render() needs to redraw the page)."""
    kinds = {PASS: "passed", FAIL: "failed", SKIP: "skipped"}
    outcomes = {b: {} for b in BACKENDS}
    for (backend, name), cell in page_cells(block).items():
        if cell in kinds:
            outcomes[backend][name] = Counter({kinds[cell]: 1})
    return outcomes


# -- the reference marks in the test files (read statically) ------------------------------


def marked_references(root=ROOT / "tests"):
    """{qualified name: {test file (relative to root), ...}} of every `pytest.mark.reference`
    in the test modules, and the set of those files marked `portable`."""
    names, portable = {}, set()
    for path in sorted(Path(root).rglob("test_*.py")):
        text = path.read_text()
        if "mark.reference" not in text:
            continue
        rel = str(path.relative_to(root))
        if "pytest.mark.portable" in text:
            portable.add(rel)
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "reference"
                and ast.unparse(node.func.value).endswith("mark")
            ):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        name = arg.value
                        name = name if name.startswith("kerasopt.") else f"kerasopt.{name}"
                        names.setdefault(name, set()).add(rel)
    return names, portable


# -- commands ---------------------------------------------------------------------------

_SELECT = {
    "tensorflow": "reference and not slow and not gpu",
    "jax": "reference and portable and not slow and not gpu",
}


def run_reference_tests(folder, pytest_args=()):
    """The reference tests on each backend (the JAX pass: the portable ones, as CI's
    `make test-jax`), each run writing its JUnit XML into `folder`."""
    for backend in BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=backend, KERASOPT_JUNIT_DIR=str(folder))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-m", _SELECT[backend], *pytest_args]
        print(f"{backend}: {' '.join(command[1:])}", flush=True)
        code = subprocess.run(command, cwd=ROOT, env=env).returncode
        if code not in (0, 1):  # 1: some test failed, which the page shows
            raise SystemExit(f"the {backend} reference run did not complete (pytest exit {code})")


def check(page_text, outcomes):
    """Lines naming each ✓ of the page that `outcomes` (CI's JUnit) do not back."""
    problems = []
    for (backend, name), cell in page_cells(generated_block(page_text) or "").items():
        if cell != PASS:
            continue
        found = outcome_cell(outcomes[backend].get(name))
        if found != PASS:
            counts = dict(outcomes[backend].get(name) or {})
            problems.append(
                f"{backend}: {name}: the page claims ✓, but this run's reference tests give "
                f"{found or 'none ran'} {counts or ''}".rstrip()
            )
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--junit", nargs="+", metavar="PATH", help="JUnit XML files or folders")
    source.add_argument("--run", action="store_true", help="run the reference tests first")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="PAGE", help="replace the page's generated block")
    action.add_argument("--check", metavar="PAGE", help="fail on a ✓ the outcomes do not back")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        if args.run:
            run_reference_tests(scratch)
        paths = args.junit or [scratch]
        outcomes = read_outcomes(paths)
    for backend in BACKENDS:
        if not outcomes[backend]:
            raise SystemExit(
                f"no reference test outcomes for {backend} in {' '.join(map(str, paths))} "
                "(set KERASOPT_JUNIT_DIR for the test runs)"
            )
    if args.check:
        problems = check(Path(args.check).read_text(), outcomes)
        if problems:
            raise SystemExit(
                f"{args.check} claims {len(problems)} ✓ that the reference tests of this run "
                "do not back:\n" + "\n".join(problems)
            )
        print(f"{args.check}: every ✓ is backed by a reference test that ran and passed")
        return
    block = render(rows(outcomes))
    if not args.write:
        print(block)
        return
    page = Path(args.write)
    text = page.read_text()
    old = generated_block(text)
    if old is None:
        raise SystemExit(f"{page}: no {START} ... {END} block to replace")
    tmp = page.with_name(page.name + ".tmp")
    tmp.write_text(text.replace(old, block))
    tmp.replace(page)
    print(f"wrote {page}")


if __name__ == "__main__":
    main()
