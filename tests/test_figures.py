"""Every measurement figure in the project's Markdown is in the committed file it cites.

One checker over all Markdown (README.md and every page under docs/ but the result tables
themselves): it splits a page into blocks (paragraphs, list items, table rows), finds each
measurement figure in a block (a ratio `1.16x`, a percentage `92.2%`, a decimal `0.2576`, an
integer with thousands separators `14,876`, or an integer with a unit `77 images`, `367 s`), and
asserts that the value occurs in a committed result file the block cites
(`benchmarks/results/*`, `docs/<study>/*.md|json`, by path or by bare name), within the
figure's printed rounding. A table row inherits the citations of the paragraph just above its
table; an evidence page's blocks cite the tables it includes (`--8<--`). README's figures must
cite a file at all; on other pages only blocks that cite one are checked.

Where a figure cannot be checked this way, the sentence is generated from the file
(`tests/test_readme.py` does that for README's missed optimizer targets).
"""

import json
import math
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Result folders under docs/ that hold committed measurements (not pages).
PAGE_FOLDERS = {"guides", "api", "evidence", "_hooks"}

NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:e[-+]?\d+)?"
UNIT = (
    r"images/s|images|GFLOP/s|ms|min|s/epoch|s|seconds|nats|points|MB|KB|GB|MiB|GiB|"
    r"steps/s|tokens/s|requests/s|req/s|parameters|examples"
)
# A figure: a ratio (0.67x; not 8x8), a percentage, a decimal, a thousands-separated integer
# or an integer with a measurement unit. Not part of a word, a version constraint (>= 3.10),
# a path or a dotted name.
FIGURE = re.compile(
    rf"(?<![\w.,/=-])(?<![>=]\s)(?P<sign>[-+])?(?P<num>{NUMBER})"
    rf"(?:(?P<x>x)(?![\d\w])|(?P<pct>%)|(?=\s?(?:{UNIT})\b)|(?![\w.]))"
)
CITATION = re.compile(r"((?:\.\./)*(?:benchmarks/results|docs)?/?[\w./-]+\.(?:md|json))")
# A target, not a measurement: "target at most 0.5x", "under 30 s", "the 2.5x goal".
TARGET_BEFORE = re.compile(
    r"(?:target|goal|bar|at least|at most|under|within|[<>]=?)\s*\(?\s*$", re.I
)
TARGET_AFTER = re.compile(r"\S*\s+(?:goal|target|bar)\b", re.I)
INCLUDE = re.compile(r'--8<--\s+"([^"]+)"')


def markdown_pages():
    """README.md and every Markdown page under docs/ that is not itself a result table."""
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    for path in sorted((ROOT / "docs").rglob("*.md")):
        rel = path.relative_to(ROOT / "docs")
        if len(rel.parts) == 1 or rel.parts[0] in PAGE_FOLDERS:
            pages.append(path)
    return [p for p in pages if p.exists()]


def committed_files():
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: what is on disk
        return {str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()}
    return set(listed)


def is_result_file(rel):
    parts = Path(rel).parts
    if rel.startswith("benchmarks/results/"):
        return True
    return (
        len(parts) >= 3
        and parts[0] == "docs"
        and parts[1] not in PAGE_FOLDERS
        and Path(rel).suffix in (".md", ".json")
    )


def resolve(citation, page, files, root=ROOT):
    """The committed result file a citation names, or None: a repository path, a path relative
    to the page or to docs/, or a bare name under benchmarks/results/."""
    citation = citation.split("#")[0]
    bases = [page.parent, root, root / "docs", root / "benchmarks/results"]
    for base in bases:
        try:
            rel = str((base / citation).resolve().relative_to(root.resolve()))
        except ValueError:
            continue
        if rel in files and is_result_file(rel):
            return rel
    return None


def blocks(text):
    """(kind, text) of the paragraphs, list items and table rows outside fenced code."""
    out, current, fenced = [], [], False

    def flush():
        if current:
            out.append(" ".join(current))
        current.clear()

    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            flush()
            continue
        if fenced:
            continue
        starts = re.match(r"\s*(?:[-*]|\d+\.)\s", line) or line.startswith(("|", "#", "--8<--"))
        if not line.strip() or starts:
            flush()
            if line.strip():
                current.append(line.strip())
            if line.startswith(("|", "#", "--8<--")):
                flush()
        else:
            current.append(line.strip())
    flush()
    return out


def figures(block):
    """(printed text, value, decimals, is_percent) of each measurement figure in a block."""
    text = re.sub(r"`[^`]*`", " ", block)  # code: names, commands, literals
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    found = []
    for m in FIGURE.finditer(text):
        num = m.group("num")
        plain = num.replace(",", "")
        has_unit = not (m.group("x") or m.group("pct")) and not re.search(r"[.,e]", num)
        if has_unit:
            following = text[m.end() :]
            if not re.match(rf"\s?(?:{UNIT})\b", following):
                continue
        if TARGET_BEFORE.search(text[: m.start()]) or TARGET_AFTER.match(text[m.end() :]):
            continue  # a target from the brief, not a measurement
        mantissa, _, exponent = plain.partition("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        decimals -= int(exponent or 0)  # 1.79e-07: printed to 1e-9
        found.append((m.group(0), float(plain), decimals, bool(m.group("pct"))))
    return found


def numbers_in(path):
    """Every number a result file holds (JSON values and numbers inside its strings)."""
    text = path.read_text(encoding="utf-8")
    values = []
    if path.suffix == ".json":

        def walk(node):
            if isinstance(node, bool):
                return
            if isinstance(node, (int, float)):
                values.append(float(node))
            elif isinstance(node, dict):
                for k, v in node.items():
                    walk(k)
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
            elif isinstance(node, str):
                values.extend(numbers_in_text(node))

        walk(json.loads(text))
    else:
        values.extend(numbers_in_text(text))
    return values


def numbers_in_text(text):
    return [
        float(m.replace(",", ""))
        for m in re.findall(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)
    ]


def occurs(value, decimals, is_percent, pool):
    """Whether a figure printed with `decimals` decimals is one of `pool`'s values rounded.

    A percentage (or percentage points) may be stored as a fraction: 92.2% matches 0.9222.
    """
    half = 0.5 * 10.0**-decimals * (1 + 1e-9)
    for x in pool:
        for scale in (1.0, 100.0) if is_percent else (1.0,):
            v = abs(x) * scale
            if math.isfinite(v) and abs(v - value) <= half:
                return True
    return False


def check(pages, files, root=ROOT, must_cite=()):
    """The problems found: each figure absent from its cited files, each uncited README figure."""
    problems = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        # an included table cites its JSON twin too (the same run wrote both)
        included = [i for n in INCLUDE.findall(text) for i in (n, n[: -len(".md")] + ".json")]
        includes = [r for r in (resolve(i, page, files, root) for i in included) if r]
        inherited = []
        for block in blocks(text):
            cited = [
                r for r in (resolve(c, page, files, root) for c in CITATION.findall(block)) if r
            ]
            if block.startswith("|"):
                cited = cited + inherited
            else:
                inherited = cited
            cited = cited + includes
            found = [f for f in figures(block) if not block.startswith("#")]
            if not found:
                continue
            name = page.relative_to(root)
            if not cited:
                if page in must_cite:
                    problems.append(
                        f"{name}: figures {[f[0] for f in found]} cite no file: {block[:100]!r}"
                    )
                continue
            pool = [v for c in dict.fromkeys(cited) for v in numbers_in(root / c)]
            for printed, value, decimals, pct in found:
                if not occurs(value, decimals, pct, pool):
                    problems.append(
                        f"{name}: {printed!r} is not in {sorted(set(cited))}: {block[:100]!r}"
                    )
    return problems


def test_every_figure_is_in_the_file_it_cites():
    problems = check(
        markdown_pages(), committed_files(), must_cite=[ROOT / "README.md", ROOT / "docs/index.md"]
    )
    assert not problems, "\n".join(problems)


def test_one_changed_digit_fails(tmp_path):
    """The checker catches one changed digit: a scratch copy of README with the first checked
    figure's last digit changed fails, the unchanged copy passes."""
    files = committed_files()
    for rel in files:
        if is_result_file(rel):
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((ROOT / rel).read_bytes())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    copy = tmp_path / "README.md"
    copy.write_text(readme, encoding="utf-8")
    assert check([copy], files, root=tmp_path, must_cite=[copy]) == []

    # the first figure in a block that cites a result file, e.g. "14,876 images/s"
    block = next(b for b in blocks(readme) if figures(b) and CITATION.search(b))
    printed = next(f[0] for f in figures(block) if f[2] > 0 or "," in f[0])
    digit = re.search(r"\d(?=\D*$)", printed)
    changed = printed[: digit.start()] + str((int(digit.group()) + 3) % 10) + printed[digit.end() :]
    copy.write_text(readme.replace(printed, changed, 1), encoding="utf-8")
    problems = check([copy], files, root=tmp_path, must_cite=[copy])
    assert len(problems) == 1 and repr(changed) in problems[0], problems


def test_figure_parsing():
    assert [f[0] for f in figures("Python >= 3.10, an 8x8 image, 94.1% and 0.67x")] == [
        "94.1%",
        "0.67x",
    ]
    assert [f[0] for f in figures("14,876 images/s, 77 images, 5 seeds, 23.8 s, `1.5`")] == [
        "14,876",
        "77",
        "23.8",
    ]
    assert occurs(92.2, 1, True, [0.92207])
    assert not occurs(92.2, 1, True, [0.9226])
    assert occurs(14876, 0, False, [14876.4])
    assert [f[2] for f in figures("raw 1.79e-07 and 2e-5 in ms")] == [9, 5]
    assert occurs(1.79e-07, 9, False, [1.7912e-07]) and not occurs(1.79e-07, 9, False, [1.8e-7])
    assert not occurs(0.2576, 4, False, [0.2575])


def test_an_uncited_readme_figure_fails(tmp_path):
    page = tmp_path / "README.md"
    page.write_text("Fast.\n\n- It runs 2.5x faster than before.\n- Set `lr=0.5`.\n")
    problems = check([page], set(), root=tmp_path, must_cite=[page])
    assert len(problems) == 1 and "2.5x" in problems[0]
    assert check([page], set(), root=tmp_path) == []  # other pages: only cited blocks are checked
