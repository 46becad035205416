"""Every row of the migration page (docs/migration.md) has a snippet, and every snippet runs.

The snippets are the page's `python` code blocks, one per `## ... {#id}` section; each
asserts the difference its row states against a NumPy restatement of the peer's rule
(tensorflow-addons or PyTorch), so the page and this test cannot drift apart.
"""

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "migration.md"
SECTION = re.compile(r"^## .*\{#(?P<id>[\w-]+)\}\s*$", re.MULTILINE)
CODE = re.compile(r"^```python\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)


def rows():
    """Anchor ids linked from the table's last column."""
    table = PAGE.read_text().split("\n## ", 1)[0]
    return re.findall(r"^\|.*\| \[[\w-]+\]\(#(?P<id>[\w-]+)\) \|$", table, re.MULTILINE)


def snippets():
    """{section id: the python code of that section}."""
    text = PAGE.read_text()
    matches = list(SECTION.finditer(text))
    out = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        blocks = CODE.findall(text[match.end() : end])
        assert len(blocks) == 1, f"section {match['id']} must hold exactly one python block"
        out[match["id"]] = blocks[0]
    return out


def test_every_row_has_exactly_one_snippet_and_every_snippet_a_row():
    linked, code = rows(), snippets()
    assert len(linked) >= 13 and len(set(linked)) == len(linked)
    assert set(linked) == set(code)


@pytest.mark.parametrize("row", rows())
def test_migration_snippet_runs(row, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = snippets()[row]
    exec(
        compile(code, f"{PAGE.name}#{row}", "exec"),
        {"__name__": f"migration_{row.replace('-', '_')}"},
    )
