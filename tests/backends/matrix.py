"""The backend matrix of docs/guides/backends.md: each public object x TensorFlow / JAX / PyTorch,
generated from the code and the tests, so it cannot drift (`tests/backends/test_matrix.py`).

A cell says what was checked, not what is hoped:

- JAX, "error": the object, called in a subprocess on KERAS_BACKEND=jax (placeholder `None`
  for each required argument: a TensorFlow-only entry point checks the backend first), raised
  `kerasopt._backend.BackendError`; the cell is that error's message.
- JAX, "✓": a test module marked `portable` (CI's `make test-jax` runs those on JAX) uses
  the object, imported by name or as an attribute of its imported namespace.
- TensorFlow, "✓": every public object's `Example:` runs in the default suite, on TensorFlow
  (`tests/test_doctests.py`), and so do its tests.
- Otherwise "not verified". PyTorch is "not tested here": this project's machines have no
  PyTorch wheel (`torch` is not installed; CPU wheels are not on PyPI).

Regenerate after a change (one command):

    python -m tests.backends.matrix --write docs/guides/backends.md   # or: make backend-matrix
"""

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- backend-matrix:start -->", "<!-- backend-matrix:end -->"

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


def _is_portable(tree):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return "portable" in ast.unparse(node.value)
    return False


def _imported_names(tree):
    """Qualified names "kerasopt.namespace.Name" a test module uses: `from kerasopt.ns import
    Name` (or from a submodule of ns), and `alias.Name` after `import kerasopt.ns as alias` or
    `from kerasopt import ns`."""
    names, aliases = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kerasopt"):
            parts = node.module.split(".")
            for alias in node.names:
                if len(parts) == 1:  # from kerasopt import ns
                    aliases[alias.asname or alias.name] = f"kerasopt.{alias.name}"
                else:
                    names.add(f"kerasopt.{parts[1]}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kerasopt.") and alias.asname:
                    aliases[alias.asname] = ".".join(alias.name.split(".")[:2])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            names.add(f"{aliases[node.value.id]}.{node.attr}")
    return names


def portable_names():
    """Qualified names used by the test modules marked `portable` (run on JAX by CI)."""
    portable = set()
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        if _is_portable(tree):
            portable |= _imported_names(tree)
    return portable


def rows():
    """(namespace, object name, TensorFlow cell, JAX cell, PyTorch cell), in namespace order."""
    from tests._public_api import namespaces, public_objects

    errors = jax_errors()
    portable = portable_names()
    out = []
    for namespace in namespaces():
        for name, _ in public_objects(namespace):
            tf_cell = "✓"  # the default suite (TensorFlow) runs every object's example
            if name in errors:
                jax_cell = "`BackendError`: " + errors[name].replace("|", "\\|")
            elif name in portable:
                jax_cell = "✓"
            else:
                jax_cell = "not verified"
            out.append((namespace, name.rsplit(".", 1)[1], tf_cell, jax_cell, "not tested here"))
    return out


def render():
    """The generated block of the page: one table per namespace, and the totals."""
    table = rows()
    lines = [START, ""]
    counts = {
        "✓ on JAX": sum(r[3] == "✓" for r in table),
        "TensorFlow-only (named error)": sum(r[3].startswith("`BackendError`") for r in table),
        "not verified on JAX": sum(r[3] == "not verified" for r in table),
    }
    lines.append(
        f"{len(table)} public objects: "
        + ", ".join(f"{n} {label}" for label, n in counts.items())
        + "."
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="PAGE", help="replace the page's generated block")
    args = parser.parse_args(argv)
    block = render()
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
