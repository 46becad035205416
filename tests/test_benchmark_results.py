"""Every committed result in benchmarks/results/ records the commit and command that made it,
and has the fields its script writes today (a stale result fails here until it is re-run)."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# Stale results still to re-run (issue 26), by name; empty since the float64 L-BFGS re-run.
# A name here must lack the fields its script writes today: the test below fails once a
# re-run lands, so that the name is taken off this list.
PENDING_RERUN = set()


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.stem)
def test_each_json_records_commit_and_command(path):
    machine = json.loads(path.read_text(encoding="utf-8"))["machine"]
    assert re.match(r"[0-9a-f]{40}\b", machine.get("commit") or ""), f"{path.name}: no commit"
    assert (machine.get("command") or "").startswith("python -m benchmarks"), path.name


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.md")), ids=lambda p: p.stem)
def test_each_markdown_names_its_commit(path):
    assert re.search(r"Made by commit `[0-9a-f]{7,40}", path.read_text(encoding="utf-8")), (
        f"{path.name}: no 'Made by commit ...' line"
    )


def _top_level_keys_written(script):
    """The string keys a script puts in its result: `"name":` at the start of a dict entry, or
    `result["name"] =`."""
    text = script.read_text(encoding="utf-8")
    keys = set(re.findall(r'^\s+"(headline|load)":', text, re.M))
    keys |= set(re.findall(r'result\["(headline|load)"\]\s*=', text))
    return keys


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.stem)
def test_each_json_has_the_fields_its_script_writes_today(path):
    result = json.loads(path.read_text(encoding="utf-8"))
    # the script named by the recorded command (a script may write several result files)
    module = result["machine"]["command"].split()[2]
    script = ROOT / (module.replace(".", "/") + ".py")
    expected = _top_level_keys_written(script)
    missing = expected - set(result)
    if path.stem in PENDING_RERUN:
        assert missing, f"{path.name} was re-run: take it off PENDING_RERUN"
        pytest.skip(f"{path.name} lacks {sorted(missing)}: pending its owner's re-run")
    assert not missing, (
        f"{path.name} lacks {sorted(missing)}: re-run python -m benchmarks.{path.stem}"
    )
