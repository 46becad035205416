"""README.md and docs/index.md: the list of missed optimizer targets is the one the committed
`benchmarks/results/optimizer_overhead.json` gives (a sentence generated from the file, where the
figure checker of `tests/test_figures.py` could only check each number alone)."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def optimizer_misses():
    """The README text of the rows that miss their target in optimizer_overhead.json."""
    result = json.loads((ROOT / "benchmarks/results/optimizer_overhead.json").read_text())
    misses = {}
    for model, table in result["results"].items():
        for row in table["comparisons"]:
            if row.get("meets_target") is False:
                name = f"{row['optimizer']} vs {row['reference']}"
                misses.setdefault(name, []).append(
                    f"{model} {row['best']['median_ratio']:.2f} > {row['target']:.2f}"
                )
    return "; ".join(f"`{name}` " + ", ".join(rows) for name, rows in misses.items())


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_missed_optimizer_targets_are_read_from_the_committed_json(page):
    expected = optimizer_misses()
    text = (ROOT / page).read_text(encoding="utf-8")
    assert expected in " ".join(text.split()), (
        f"{page}'s list of missed optimizer targets differs from "
        f"benchmarks/results/optimizer_overhead.json; write: {expected}"
    )


def test_readme_is_at_most_200_lines():
    assert len(README.splitlines()) <= 200
