"""`import kerasopt` on another backend must not import TensorFlow (issue 21).

The GPU machines this project borrows have JAX and no TensorFlow, so every module that
`import kerasopt` loads imports TensorFlow only inside the functions that need it (or through
`kerasopt._backend.tf`, a lazy module). Two checks, independent of each other:

- static: no module under `kerasopt/` imports a TensorFlow-family package at module level;
- dynamic: in a subprocess on KERAS_BACKEND=jax with TensorFlow made unimportable (as if
  uninstalled), `import kerasopt` and every public namespace succeed, and with TensorFlow
  installed but unused, none of them leaves it in `sys.modules`.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._public_api import namespaces

ROOT = Path(__file__).resolve().parents[2]
TF_FAMILY = {"tensorflow", "tensorflow_datasets", "tf_keras", "tf2onnx"}
MODULES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "kerasopt").rglob("*.py"))


def _module_level_imports(path):
    """Top-level package names imported outside any function body (class bodies included)."""
    found = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name.split(".")[0] for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.add(child.module.split(".")[0])
            visit(child)

    visit(ast.parse(Path(path).read_text()))
    return found


def _cases():
    for module in MODULES:
        yield pytest.param(module, id=module)


def test_the_static_check_sees_a_top_level_import(tmp_path):
    """The checker itself: a module-level import is found, one inside a function is not."""
    source = tmp_path / "m.py"
    source.write_text(
        "import os\nfrom tensorflow import nest\n\ndef f():\n    import tensorflow_datasets\n"
    )
    assert _module_level_imports(source) == {"os", "tensorflow"}


@pytest.mark.parametrize("module", list(_cases()))
def test_no_module_level_tensorflow_import(module):
    imported = _module_level_imports(ROOT / module) & TF_FAMILY
    assert not imported, f"{module} imports {sorted(imported)} at module level"


_PROBE = """
import importlib, importlib.abc, json, sys
if sys.argv[1] == "block":
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in {families}:
                raise ImportError(f"No module named {{name!r}} (blocked: TensorFlow uninstalled)")
    sys.meta_path.insert(0, Block())
for name in {names}:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {families})))
"""


def _import_everything(mode):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    code = _PROBE.format(families=sorted(TF_FAMILY), names=["kerasopt", *namespaces()])
    result = subprocess.run(
        [sys.executable, "-c", code, mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["block", "installed"])
def test_import_kerasopt_on_jax_without_tensorflow(mode):
    assert _import_everything(mode) == []
