"""docs/guides/backends.md's matrix is what `tests/backends/matrix.py` generates from the code
and the tests, so it cannot drift; and the TensorFlow-only families refuse JAX by name."""

from pathlib import Path

import pytest

from tests.backends import matrix

PAGE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "backends.md"


@pytest.fixture(scope="module")
def rows():
    return matrix.rows()


def test_page_shows_the_generated_matrix(rows, monkeypatch):
    monkeypatch.setattr(matrix, "rows", lambda: rows)
    block = matrix.generated_block(PAGE.read_text())
    assert block is not None, "docs/guides/backends.md lost its backend-matrix markers"
    assert block == matrix.render(), (
        "the backend matrix is stale: run `make backend-matrix` "
        "(python -m tests.backends.matrix --write docs/guides/backends.md)"
    )


def test_every_public_object_has_one_row_per_backend(rows):
    from tests._public_api import namespaces, public_objects

    expected = [
        (ns, name.rsplit(".", 1)[1]) for ns in namespaces() for name, _ in public_objects(ns)
    ]
    assert [(r[0], r[1]) for r in rows] == expected
    assert all(len(r) == 5 and all(r[2:]) for r in rows)


def test_tensorflow_only_objects_refuse_jax_naming_the_alternative(rows):
    cells = {f"{r[0]}.{r[1]}": r[3] for r in rows}
    # The objects TensorFlow-only by nature, each with its alternative on JAX (the second-order
    # family runs on JAX since issue 29).
    for name, alternative in [
        ("kerasopt.export.export_saved_model", ".keras"),
        ("kerasopt.export.export_onnx", ".keras"),
        ("kerasopt.export.export_litert", ".keras"),
        ("kerasopt.diagnostics.hessian_vector_product", "jax.jvp"),
    ]:
        assert cells[name].startswith("`BackendError`: "), name
        assert "Received: KERAS_BACKEND='jax'" in cells[name] and alternative in cells[name]


def test_portable_test_modules_are_found():
    # the AST reading of the tests: an import by name and an attribute of an imported namespace
    import ast

    tree = ast.parse(
        "import pytest\nfrom kerasopt.layers import StochasticDepth\nfrom kerasopt import "
        "initializers as ki\nki.Sparse(2)\npytestmark = pytest.mark.portable\n"
    )
    assert matrix._is_portable(tree)
    assert matrix._imported_names(tree) >= {
        "kerasopt.layers.StochasticDepth",
        "kerasopt.initializers.Sparse",
    }
