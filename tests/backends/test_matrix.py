"""docs/guides/backends.md's matrix is what `tests/backends/matrix.py` renders, every ✓ on it
has a reference test behind it, the `reference` marker reaches the JUnit XML (also through
pytest-xdist), and the CI check fails on a ✓ that the run's outcomes do not back."""

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from tests.backends import matrix, reference

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "guides" / "backends.md"


@pytest.fixture(scope="module")
def errors():
    return matrix.jax_errors()


@pytest.fixture(scope="module")
def block():
    block = matrix.generated_block(PAGE.read_text())
    assert block is not None, "docs/guides/backends.md lost its backend-matrix markers"
    return block


def test_page_is_current(block, errors):
    # The page redrawn from its own outcome cells: the public objects, their order, the
    # BackendError messages, the by-nature reasons and the totals are today's.
    table = matrix.rows(matrix.claimed_outcomes(block), errors)
    assert block == matrix.render(table), (
        "the backend matrix is stale: run `make backend-matrix` "
        "(python -m tests.backends.matrix --run --write docs/guides/backends.md)"
    )


def test_every_tick_has_a_reference_test(block):
    # A ✓ whose reference tests were removed (or, on JAX, are not portable) is stale.
    marked, portable = matrix.marked_references()
    for (backend, name), cell in matrix.page_cells(block).items():
        if cell != matrix.PASS:
            continue
        files = marked.get(name, set())
        if backend == "jax":
            files &= portable
        assert files, f"{backend}: {name} is ✓ on the page, but no test marks it `reference`"


def test_reference_marks_name_public_objects():
    marked, _ = matrix.marked_references()
    unknown = set(marked) - reference.public_names()
    assert not unknown, f"reference marks on names kerasopt does not export: {unknown}"


def test_every_public_object_has_one_row(block):
    from tests._public_api import namespaces, public_objects

    expected = {name for ns in namespaces() for name, _ in public_objects(ns)}
    cells = matrix.page_cells(block)
    assert {name for _, name in cells} == expected
    assert all(cells.values())


def test_tensorflow_only_objects_refuse_jax_naming_the_alternative(errors):
    # The objects TensorFlow-only by nature, each with its alternative on JAX.
    for name, alternative in [
        ("kerasopt.export.export_saved_model", ".keras"),
        ("kerasopt.export.export_onnx", ".keras"),
        ("kerasopt.export.export_litert", ".keras"),
    ]:
        assert "Received: KERAS_BACKEND='jax'" in errors[name] and alternative in errors[name]
    # the second-order diagnostics run on JAX (jax.grad / jax.jvp through keras.StatelessScope)
    assert not {name for name in errors if name.startswith("kerasopt.diagnostics.")}


def _case(name, objects, backend, outcome=""):
    props = "".join(f'<property name="reference" value="{o}"/>' for o in objects)
    props += f'<property name="backend" value="{backend}"/>'
    return f'<testcase classname="t" name="{name}"><properties>{props}</properties>{outcome}</testcase>'


def test_cells_follow_the_outcomes(tmp_path):
    ok, bad = "kerasopt.optimizers.Lookahead", "kerasopt.optimizers.Averaged"
    skip = '<skipped message="needs TensorFlow"/>'
    (tmp_path / "tensorflow-1.xml").write_text(
        "<testsuites><testsuite>"
        + _case("a", [ok, bad], "tensorflow")
        + _case("b", [bad], "tensorflow", '<failure message="x"/>')
        + '<testcase classname="t" name="unmarked"/>'
        + "</testsuite></testsuites>"
    )
    (tmp_path / "jax-2.xml").write_text(
        "<testsuites><testsuite>"
        + _case("a", [ok], "jax", skip)
        + _case("c", [ok], "jax")
        + _case("d", [bad], "jax", skip)
        + "</testsuite></testsuites>"
    )
    outcomes = matrix.read_outcomes([tmp_path])
    assert outcomes["tensorflow"][bad] == Counter(passed=1, failed=1)
    assert matrix.outcome_cell(outcomes["tensorflow"][ok]) == "✓"
    assert matrix.outcome_cell(outcomes["tensorflow"][bad]) == "failed"  # one failure: no ✓
    assert matrix.outcome_cell(outcomes["jax"][ok]) == "✓"  # one ran and passed, one skipped
    assert matrix.outcome_cell(outcomes["jax"][bad]) == "skipped"
    assert matrix.outcome_cell(outcomes["jax"].get("kerasopt.schedules.OneCycle")) is None
    # test b run again, later, and passing: its newer outcome replaces the failure
    rerun = tmp_path / "tensorflow-3.xml"
    rerun.write_text(
        "<testsuites><testsuite>" + _case("b", [bad], "tensorflow") + "</testsuite></testsuites>"
    )
    os.utime(rerun, (os.path.getmtime(tmp_path / "tensorflow-1.xml") + 1,) * 2)
    outcomes = matrix.read_outcomes([tmp_path])
    assert outcomes["tensorflow"][bad] == Counter(passed=2)


def test_check_fails_on_a_tick_the_run_does_not_back(tmp_path, block):
    # CI's check step: the committed page against outcomes in which each of three ✓ objects
    # failed, only skipped, or ran no reference test on JAX; every other ✓ is backed.
    claimed = matrix.claimed_outcomes(block)
    ticks = sorted(name for name, c in claimed["jax"].items() if c["passed"])
    assert len(ticks) >= 3
    claimed["jax"][ticks[0]] = Counter(passed=2, failed=1)
    claimed["jax"][ticks[1]] = Counter(skipped=1)
    del claimed["jax"][ticks[2]]
    problems = matrix.check(PAGE.read_text(), claimed)
    assert [p.split(": ")[1] for p in problems] == ticks[:3]
    assert "failed" in problems[0] and "skipped" in problems[1] and "none ran" in problems[2]
    assert matrix.check(PAGE.read_text(), matrix.claimed_outcomes(block)) == []


class _Item:
    def __init__(self, *names):
        self.nodeid, self.user_properties = "tests/x.py::test_y", []
        self._names = names

    def iter_markers(self, name):
        return [pytest.mark.reference(*self._names).mark] if name == "reference" else []


def test_a_misspelt_reference_stops_the_run():
    good = _Item("optimizers.Lookahead", "kerasopt.schedules.OneCycle")
    reference.pytest_collection_modifyitems(None, [good])
    assert [v for k, v in good.user_properties if k == "reference"] == [
        "kerasopt.optimizers.Lookahead",
        "kerasopt.schedules.OneCycle",
    ]
    with pytest.raises(pytest.UsageError, match="reference\\('kerasopt.optimizers.LookAhead'\\)"):
        reference.pytest_collection_modifyitems(None, [_Item("optimizers.LookAhead")])


def test_junit_properties_through_xdist(tmp_path):
    # A real pytest run with two xdist workers and KERASOPT_JUNIT_DIR: the properties reach the
    # controller's JUnit file, and the matrix reads the outcomes back.
    (tmp_path / "test_tiny.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.reference("schedules.OneCycle")
            def test_passes():
                assert 1 + 1 == 2

            @pytest.mark.reference("schedules.OneCycle", "schedules.Warmup")
            def test_fails():
                assert 1 + 1 == 3

            @pytest.mark.reference("schedules.StepDecay")
            def test_skips():
                pytest.skip("not here")
            """
        )
    )
    env = dict(os.environ, KERAS_BACKEND="jax", KERASOPT_JUNIT_DIR=str(tmp_path / "junit"))
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "tests.backends.reference", "-n", "2", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    outcomes = matrix.read_outcomes([tmp_path / "junit"])
    assert outcomes["tensorflow"] == {}
    assert outcomes["jax"] == {
        "kerasopt.schedules.OneCycle": Counter(passed=1, failed=1),
        "kerasopt.schedules.Warmup": Counter(failed=1),
        "kerasopt.schedules.StepDecay": Counter(skipped=1),
    }
