"""README.md: every figure cites a committed result, and the list of missed optimizer targets
is the one the committed `benchmarks/results/optimizer_overhead.json` gives."""

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# a figure: a ratio (0.67x, 3-13x; not 8x8), a percentage, or a decimal number that is not a
# version constraint (Python >= 3.10)
FIGURE = re.compile(r"\b\d+(?:\.\d+)?x(?![\d\w])|\d+(?:\.\d+)?%|(?<![>=]\s)(?<![\w.])\d+\.\d+\b")
CITATION = re.compile(r"((?:benchmarks/results|docs)/[\w./-]+\.\w+|\b[\w-]+\.(?:md|json)\b)")


def blocks(text):
    """Paragraphs and list items outside fenced code, each as one string."""
    out, current, fenced = [], [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        starts_item = re.match(r"\s*(?:[-*]|\d+\.)\s", line) or line.startswith("|")
        if not line.strip() or starts_item or line.startswith("#"):
            if current:
                out.append(" ".join(current))
            current = [] if not line.strip() else [line.strip()]
        else:
            current.append(line.strip())
    if current:
        out.append(" ".join(current))
    return out


def committed_files():
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: what is on disk
        return {str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()}
    return set(listed)


def resolve(citation, files):
    """The committed file a citation names: a path, or a bare name under benchmarks/results/."""
    for candidate in (citation, f"benchmarks/results/{citation}"):
        if candidate in files:
            return candidate
    return None


def test_every_figure_cites_a_committed_file():
    files = committed_files()
    uncited = []
    for block in blocks(README):
        figures = FIGURE.findall(re.sub(r"`[^`]*`", "", block))
        if not figures:
            continue
        cited = [
            c
            for c in CITATION.findall(block)
            if c.startswith(("benchmarks/results/", "docs/")) or resolve(c, files)
        ]
        found = [c for c in cited if resolve(c, files)]
        if not found:
            uncited.append((figures, block[:120]))
        missing = [c for c in cited if not resolve(c, files)]
        assert not missing, f"cites files that are not committed: {missing} in {block[:120]!r}"
    assert not uncited, f"figures without a committed source: {uncited}"


def test_the_check_finds_an_uncited_figure():
    text = "Fast.\n\n- It runs 2.5x faster than before.\n- Cited: 1.9x (`lbfgs_vs_scipy.md`).\n"
    flagged = [b for b in blocks(text) if FIGURE.findall(b) and not CITATION.findall(b)]
    assert flagged == ["- It runs 2.5x faster than before."]
    assert FIGURE.findall("Python >= 3.10, an 8x8 image, 94.1% and 0.67x") == ["94.1%", "0.67x"]


def optimizer_misses():
    """The README text of the rows that miss their target in optimizer_overhead.json."""
    result = json.loads((ROOT / "benchmarks/results/optimizer_overhead.json").read_text())
    misses = {}
    for model, table in result["results"].items():
        for row in table["rows"]:
            if row.get("meets_target") is False:
                misses.setdefault(row["optimizer"], []).append(
                    f"{model} {row['ratio']:.3f} > {row['target']:.2f}"
                )
    return "; ".join(f"`{name}` " + ", ".join(rows) for name, rows in misses.items())


def test_missed_optimizer_targets_are_read_from_the_committed_json():
    expected = optimizer_misses()
    assert expected in " ".join(README.split()), (
        "README's list of missed optimizer targets differs from "
        f"benchmarks/results/optimizer_overhead.json; write: {expected}"
    )


def test_readme_is_at_most_200_lines():
    assert len(README.splitlines()) <= 200
