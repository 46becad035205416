"""Every measurement figure in the project's Markdown is in the committed file it cites.

One checker over all Markdown (README.md, CONTRIBUTING.md and every page under docs/ but the
result tables themselves): it splits a page into blocks (paragraphs, list items, table rows),
finds each measurement figure in a block (a ratio `1.16x`, a percentage `92.2%`, a decimal
`0.2576`, an integer with thousands separators `14,876`, an integer with a unit `77 images`,
`367 s`, `8 minutes`, or a table cell that is an integer), and asserts that the value occurs
in a committed result file the block cites (`benchmarks/results/*`, `docs/<study>/*.md|json`,
by path, by bare name or as `NAME.{json,md}`), within the figure's printed rounding. A table
row inherits the citations of the paragraph just above its table; an evidence page's blocks
cite the tables it includes (`--8<--`). On every page a block with a figure must cite such a
file.

Not measurements, so not figures (narrow rules, each tested in
`test_shapes_that_are_not_measurements`, and the measurements beside them in
`test_measurements_next_to_those_shapes_are_still_figures`):

- code: fenced blocks, inline code spans (any number of backticks), HTML comments;
- section references: a number after `sec.`, `section`, `§`, `Alg.`, `algorithm`, `eq.`,
  `chapter`, `ch.`, `fig.`, with its list (`sec. 15.1, 18.2, 20.2-20.3`);
- versions: X.Y or X.Y.Z (one or two minor digits) after a preposition and a package name,
  followed by punctuation or a conjunction (`with Keras 3.15 / TensorFlow 2.21,`,
  `in TF 2.21 but`);
- dates and clock times (`2026-12-07`, `17:35`);
- parameter assignments (`lr=1e-3`, `T = 4`) and comparisons (`>= 3.10`, `< 0.05`);
- defaults in parentheses: `(default 1e-5)`, `(slope, default 0.01)`, `(16 MB by default)`
  (never a ratio or a percentage);
- targets and bounds: a number after `target`, `goal`, `bar`, `at least`, `at most`, `under`,
  `within`, `tolerance`, or before `goal`/`target`/`bar`.

Anything else that is not a measurement carries a visible marker on its own line right before
the block (mkdocs does not render HTML comments):

    <!-- not a measurement: REASON -->

which exempts the whole block (before a table: every row of the table) and is refused on a
block that cites a result file; there the marker names the figures it exempts, and every other
figure is still checked:

    <!-- not a measurement (4x 1e-3): REASON -->

A marker without a reason, or one that exempts nothing, is a failure.

Where a figure cannot be checked this way, the sentence is generated from the file
(`tests/test_readme.py` does that for README's missed optimizer targets).
"""

import json
import math
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Result folders under docs/ that hold committed measurements (not pages).
PAGE_FOLDERS = {"guides", "api", "evidence", "_hooks"}

NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:e[-+]?\d+)?"
UNIT = (
    r"images/s|images|GFLOP/s|ms|min|minutes|hours|s/epoch|s|seconds|nats|points|MB|KB|GB|MiB|GiB|"
    r"steps/s|tokens/s|requests/s|req/s|parameters|examples"
)
# A figure: a ratio (0.67x; not 8x8), a percentage, a decimal, a thousands-separated integer
# or an integer with a measurement unit. Not part of a word, a version constraint (>= 3.10),
# a path or a dotted name.
FIGURE = re.compile(
    rf"(?<![\w.,/=-])(?<![>=]\s)(?P<sign>[-+])?(?P<num>{NUMBER})"
    rf"(?:(?P<x>x)(?![\d\w])|(?P<pct>%)|(?=\s?(?:{UNIT})\b)|(?!\w|\.\d))"
)
CITATION = re.compile(
    r"((?:\.\./)*(?:benchmarks/results|docs)?/?[\w./-]+\.(?:md|json|\{(?:md|json),(?:md|json)\}))"
)
# A target, not a measurement: "target at most 0.5x", "under 30 s", "the 2.5x goal".
TARGET_BEFORE = re.compile(
    r"(?:target|goal|bar|at least|at most|under|within|tolerance|[<>]=?)\s*\(?\s*$", re.I
)
TARGET_AFTER = re.compile(r"\S*\s+(?:goal|target|bar)\b", re.I)
# A default, in parentheses: "(default 1e-5)", "(slope, default 0.01)", "(16 MB by default)".
DEFAULT_BEFORE = re.compile(r"[(,;]\s*defaults?\s*:?\s*$", re.I)
DEFAULT_AFTER = re.compile(r"\s?(?:[A-Za-z/]+\s+)?by default\)", re.I)
PACKAGE = (
    r"(?:Keras|TensorFlow|TF|JAX|jaxlib|Python|NumPy|SciPy|scikit-learn|PyTorch|torch|optax|"
    r"CUDA|cuDNN|ONNX Runtime|onnxruntime|LiteRT|mkdocs)"
)
# X.Y or X.Y.Z, then punctuation or a conjunction: not "JAX 1.12x", "JAX 0.93 accuracy".
VERSION = r"\d+\.\d{1,2}(?:\.\d+)?(?=\s*(?:[/,;:)]|$)|\s+(?:but|and|or)\b)"
# Text that holds numbers but no measurement, blanked before figures are looked for.
NOT_FIGURES = [
    re.compile(r"<!--.*?-->", re.S),  # HTML comments (markers included)
    re.compile(r"(`+)(?:(?!\1).)+\1"),  # inline code: names, commands, literals
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(  # section references and their lists: sec. 8.4, §3, Alg. 3.5/3.6
        r"(?:\b(?:secs?|alg|eqs?|ch|figs?)\.|\b(?:sections?|algorithms?|chapters?)\b|§)\s*"
        r"\d+(?:\.\d+)*(?:\s*(?:,|/|-|–|and|to)\s*\d+(?:\.\d+)*)*(?![\d.]*[\w%])",
        re.I,
    ),
    re.compile(  # versions: "with Keras 3.15 / TensorFlow 2.21", "in TF 2.21"; not "JAX 1.12x"
        rf"\b(?:with|in|under|on|for|from)\s+{PACKAGE}\s{VERSION}"
        rf"(?:\s*(?:/|,|and)\s*{PACKAGE}\s{VERSION})*",
        re.I,
    ),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b"),  # dates, clock times
]
# The marker of a block whose figures are not measurements (see the module docstring).
MARKER = re.compile(r"<!--\s*not a measurement\s*(?:\((?P<named>[^)]*)\))?\s*:?(?P<reason>.*?)-->")
INCLUDE = re.compile(r'--8<--\s+"([^"]+)"')


def markdown_pages():
    """Every Markdown page that is not itself a result table: the committed ones (README.md,
    CONTRIBUTING.md, saved_models/README.md, docs/...) and any new page under docs/."""
    rels = {rel for rel in committed_files() if rel.endswith(".md")}
    rels |= {str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")}
    return [ROOT / rel for rel in sorted(rels) if not is_result_file(rel) and (ROOT / rel).exists()]


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
    """The paragraphs, list items, table rows and marker lines outside fenced code."""
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
        if MARKER.fullmatch(line.strip()):  # a marker is a block of its own
            flush()
            out.append(line.strip())
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
    text = block
    for pattern in NOT_FIGURES:
        text = pattern.sub(" ", text)
    found = []
    for m in FIGURE.finditer(text):
        num = m.group("num")
        plain = num.replace(",", "")
        has_unit = not (m.group("x") or m.group("pct")) and not re.search(r"[.,e]", num)
        if has_unit:
            following = text[m.end() :]
            if not re.match(rf"\s?(?:{UNIT})\b", following):
                continue
        before, after = text[: m.start()], text[m.end() :]
        if TARGET_BEFORE.search(before) or TARGET_AFTER.match(after):
            continue  # a target from the brief or a test's bound, not a measurement
        if not (m.group("x") or m.group("pct")) and (
            DEFAULT_BEFORE.search(before)
            or (before.rstrip().endswith("(") and DEFAULT_AFTER.match(after))
        ):
            continue  # a default setting
        mantissa, _, exponent = plain.partition("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        decimals -= int(exponent or 0)  # 1.79e-07: printed to 1e-9
        found.append((m.group(0), float(plain), decimals, bool(m.group("pct"))))
    if block.startswith("|"):  # a table cell that is a bare integer (a count, a rate) is one too
        for cell in text.strip().strip("|").split("|"):
            if re.fullmatch(r"[-+]?\d+", cell.strip()):  # (14,876 is a figure already)
                found.append((cell.strip(), float(cell.strip().replace(",", "")), 0, False))
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


def cited_files(block, page, files, root=ROOT):
    """The committed result files a block cites (`NAME.{json,md}` names both)."""
    names = []
    for citation in CITATION.findall(re.sub(r"<!--.*?-->", " ", block, flags=re.S)):
        stem, brace, suffixes = citation.partition(".{")
        names += [f"{stem}.{x}" for x in suffixes.rstrip("}").split(",")] if brace else [citation]
    return [r for r in (resolve(n, page, files, root) for n in names) if r]


def _close(marker, name):
    """The problems of a marker once its block (or table) has ended."""
    if marker is None:
        return []
    if not marker["reason"]:
        return [f"{name}: marker {marker['text']!r} gives no reason"]
    missing = [n for n in marker["named"] if n not in marker["exempted"]]
    if missing:
        return [f"{name}: marker {marker['text']!r} names {missing}, not in its block"]
    if not marker["exempted"]:
        return [f"{name}: marker {marker['text']!r} exempts nothing"]
    return []


def check(pages, files, root=ROOT):
    """The problems found: each figure absent from its cited files, each figure of a block that
    cites no result file, each marker without a reason or that exempts nothing."""
    problems = []
    for page in pages:
        name = page.relative_to(root)
        text = page.read_text(encoding="utf-8")
        # an included table cites its JSON twin too (the same run wrote both)
        included = [i for n in INCLUDE.findall(text) for i in (n, n[: -len(".md")] + ".json")]
        includes = [r for r in (resolve(i, page, files, root) for i in included) if r]
        inherited, marker, previous_row = [], None, False
        for block in blocks(text):
            mark = MARKER.fullmatch(block)
            is_row = block.startswith("|")
            if mark or (marker and marker["covered"] and not (is_row and previous_row)):
                problems += _close(marker, name)  # a marker covers one block or one table
                marker = None
            previous_row = is_row
            if mark:
                named = (mark["named"] or "").split()
                marker = dict(text=block, reason=mark["reason"].strip(), named=named)
                marker.update(covered=False, exempted=set())
                continue
            cited = cited_files(block, page, files, root)
            if is_row:
                cited = cited + inherited
            else:
                inherited = cited
            cited = cited + includes
            found = [f for f in figures(block) if not block.startswith("#")]
            if marker is not None:
                marker["covered"] = True
                if cited and not marker["named"]:
                    problems.append(
                        f"{name}: marker {marker['text']!r} stands before a block that cites "
                        f"{sorted(set(cited))}: name the figures it exempts"
                    )
                exempt = [f for f in found if not marker["named"] or f[0] in marker["named"]]
                marker["exempted"].update(f[0] for f in exempt)
                found = [f for f in found if f not in exempt]
            if not found:
                continue
            if not cited:
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
        problems += _close(marker, name)
    return problems


def test_every_figure_is_in_the_file_it_cites():
    problems = check(markdown_pages(), committed_files())
    assert not problems, "\n".join(problems)


def _scratch_copy(tmp_path, files):
    """The committed result files, copied under tmp_path (the scratch checkout's root)."""
    for rel in files:
        if is_result_file(rel):
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((ROOT / rel).read_bytes())


@pytest.mark.parametrize("page", ["README.md", "docs/guides/pretraining.md"])
def test_one_changed_digit_fails(tmp_path, page):
    """The checker catches one changed digit: a scratch copy of the page with one checked
    figure's last digit changed fails, the unchanged copy passes (README and a guide page)."""
    files = committed_files()
    _scratch_copy(tmp_path, files)
    text = (ROOT / page).read_text(encoding="utf-8")
    copy = tmp_path / page
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(text, encoding="utf-8")
    assert check([copy], files, root=tmp_path) == []

    # the first figure printed once on the page in a block that cites a result file, with
    # decimals or thousands separators (e.g. "14,876 images/s")
    printed = next(
        f[0]
        for b in blocks(text)
        if cited_files(b, ROOT / page, files)
        for f in figures(b)
        if (f[2] > 0 or "," in f[0]) and text.count(f[0]) == 1
    )
    digit = re.search(r"\d(?=\D*$)", printed)
    changed = printed[: digit.start()] + str((int(digit.group()) + 3) % 10) + printed[digit.end() :]
    copy.write_text(text.replace(printed, changed), encoding="utf-8")
    problems = check([copy], files, root=tmp_path)
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


@pytest.mark.parametrize(
    "text",
    [
        "Goodfellow et al. sec. 8.4; sec. 15.1, 18.2, 20.2-20.3; § 3.5; N&W Alg. 3.5/3.6",
        "Algorithm 8.6, section 4.1, eq. 2.2, chapter 11.3",
        "measured with TF 2.21 / Keras 3.15; With Keras 3.15 / TensorFlow 2.21, on JAX 0.10.2",
        "``Argument `rate` must be in [0.0, 1.0). Received: rate=1.0``, `0.5`",
        "lr=1e-3, `lr=0.5`, T = 4, alpha = 0.5, c2 = 1e-10",
        "run on 2026-12-07 at 17:35 UTC",
        "a dotted number 1.2.3, a name a.b.c",
        "(default 1e-5), (slope `param`, default 0.01), (16.7 Mpixel by default)",
        "within 1e-6 using at most 1.5x, gradient tolerance 1e-9, the 2.5x goal, < 0.05",
        "<!-- 0.75 in a comment -->\n```\nx = 0.25\n```",
    ],
)
def test_shapes_that_are_not_measurements(text):
    assert [f[0] for b in blocks(text) for f in figures(b)] == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("on JAX 1.12x `optax.lbfgs`", ["1.12x"]),  # a ratio after a package name
        ("JAX 0.948 in 367 s", ["0.948", "367"]),  # no preposition: not a version
        ("on JAX 0.93 accuracy, TF 0.91", ["0.93", "0.91"]),  # a word after it: not a version
        ("the algorithms 2.5x faster, sec. 3 10% lower", ["2.5x", "10%"]),
        ("the default is 1.50x scikit-learn's", ["1.50x"]),  # a measured default
        ("TensorFlow default (-126.09 +- 2.53)", ["-126.09", "2.53"]),
        ("runs 1.88x faster (by default)", ["1.88x"]),
        ("sec. 8.4 reports 93.1% accuracy", ["93.1%"]),
        ("it took about 8 minutes", ["8"]),
        ("accuracy was 0.93.", ["0.93"]),  # at the end of a sentence
        ("| tf.data (TensorFlow) | 27 | `59` | 1,153 |", ["1,153", "27"]),  # integer cells
    ],
)
def test_measurements_next_to_those_shapes_are_still_figures(text, expected):
    assert [f[0] for f in figures(text)] == expected


def _page(tmp_path, text, files=()):
    page = tmp_path / "docs" / "guides" / "scratch.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text, encoding="utf-8")
    return check([page], set(files), root=tmp_path)


def test_an_uncited_measurement_fails_on_every_page(tmp_path):
    problems = _page(tmp_path, "Fast.\n\n- It runs 2.5x faster than before.\n- Set `lr=0.5`.\n")
    assert len(problems) == 1 and "2.5x" in problems[0] and "cite no file" in problems[0]
    assert _page(tmp_path, "As in Goodfellow et al. sec. 8.4 (default 1e-5).\n") == []


def test_the_marker_exempts_one_block_and_needs_a_reason(tmp_path):
    marked = "<!-- not a measurement: the split's size, fixed before the run -->\n"
    assert _page(tmp_path, marked + "A split of 7,000 images.\n") == []
    # one block only: the next block's measurement is still checked
    problems = _page(tmp_path, marked + "A split of 7,000 images.\n\nIt took 12.5 s.\n")
    assert len(problems) == 1 and "12.5" in problems[0]
    # before a table: every row of that table
    table = "| a | b |\n|---|---|\n| 0.25 | 0.5 |\n| 0.75 | 1.5 |\n\nThen 2.5x.\n"
    problems = _page(tmp_path, marked + table)
    assert len(problems) == 1 and "2.5x" in problems[0]
    # no reason, or nothing to exempt: a failure
    problems = _page(tmp_path, "<!-- not a measurement: -->\nA split of 7,000 images.\n")
    assert len(problems) == 1 and "gives no reason" in problems[0]
    problems = _page(tmp_path, marked + "No figure here.\n")
    assert len(problems) == 1 and "exempts nothing" in problems[0]
    problems = _page(tmp_path, "<!-- not a measurement (9,000): a split -->\n7,000 images.\n")
    assert len(problems) == 2 and "names ['9,000'], not in its block" in problems[1]


def test_a_marker_in_a_cited_block_names_its_figures(tmp_path):
    result = tmp_path / "benchmarks/results/x.json"
    result.parent.mkdir(parents=True)
    result.write_text('{"speedup": 1.88}')
    files = ["benchmarks/results/x.json", "benchmarks/results/x.md"]
    (tmp_path / files[1]).write_text("| speedup | 1.88 |\n")
    block = "`benchmarks/results/x.{json,md}`: 1.88x with 4x the epochs.\n"
    assert "'4x' is not in" in _page(tmp_path, block, files)[0]  # both files are cited
    assert _page(tmp_path, "<!-- not a measurement (4x): a setting -->\n" + block, files) == []
    problems = _page(tmp_path, "<!-- not a measurement: a setting -->\n" + block, files)
    assert len(problems) == 1 and "name the figures it exempts" in problems[0]
    # a named marker exempts only the figures it names
    wrong = block.replace("1.88x", "1.89x")
    problems = _page(tmp_path, "<!-- not a measurement (4x): a setting -->\n" + wrong, files)
    assert len(problems) == 1 and "'1.89x' is not in" in problems[0]
