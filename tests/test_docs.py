"""The documentation site: one API page per public namespace, every exported name rendered,
every page in the navigation, and a strict build (`mkdocs build --strict`) that succeeds.

Namespaces are discovered from the package (`tests/_public_api.py`), so a new namespace
without a page, or a page without a namespace, fails here.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests._public_api import exported_names, namespaces

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"


def api_pages():
    return sorted(p.stem for p in API.glob("*.md"))


def nav_pages():
    """Every page path listed in mkdocs.yml's nav."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return set(walk(config["nav"]))


def test_one_api_page_per_namespace():
    assert [f"kerasopt.{name}" for name in api_pages()] == namespaces()


@pytest.mark.parametrize("namespace", namespaces())
def test_api_page_is_title_and_mkdocstrings_block(namespace):
    page = API / f"{namespace.split('.', 1)[1]}.md"
    assert page.read_text().split() == f"# {namespace} ::: {namespace}".split()


def test_every_page_is_in_the_navigation():
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").glob("*.md")}
    pages |= {
        p.relative_to(ROOT / "docs").as_posix()
        for sub in ("api", "guides", "evidence")
        for p in (ROOT / "docs" / sub).glob("*.md")
    }
    nav = nav_pages()
    assert pages - nav == set(), "pages missing from mkdocs.yml's nav"
    assert {p for p in nav if p != "benchmarks.md"} <= pages, "nav entries without a page"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once with --strict into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.mark.parametrize("namespace", namespaces())
def test_every_exported_name_is_in_the_api_reference(site, namespace):
    html = (site / "api" / namespace.split(".", 1)[1] / "index.html").read_text()
    rendered = set(re.findall(r'id="(kerasopt\.[\w.]+)"', html))
    missing = [n for n in exported_names(namespace) if f"{namespace}.{n}" not in rendered]
    assert not missing, f"exported but not in the API reference: {missing}"
    unexported = {r.split(".")[2] for r in rendered if r.count(".") == 2} - set(
        exported_names(namespace)
    )
    assert not unexported, f"in the API reference but not exported: {sorted(unexported)}"


def test_benchmarks_page_is_generated_from_every_result(site):
    html = (site / "benchmarks" / "index.html").read_text()
    for result in (ROOT / "benchmarks" / "results").glob("*.md"):
        assert f'id="{result.stem}"' in html, result.name
        first_row = next(
            line
            for line in result.read_text().splitlines()
            if line.startswith("| ") and "---" not in line
        )
        assert first_row.split("|")[1].strip() in html


def test_evidence_pages_include_the_recipe_tables(site):
    for page in (ROOT / "docs" / "evidence").glob("*.md"):
        includes = re.findall(r'^--8<-- "([^"]+)"$', page.read_text(), re.MULTILINE)
        assert includes, f"{page.name} includes no committed table"
        html = (site / "evidence" / page.stem / "index.html").read_text()
        for include in includes:
            table_row = next(
                line
                for line in (ROOT / "docs" / include).read_text().splitlines()
                if line.startswith("| ") and "---" not in line
            )
            assert table_row.split("|")[2].strip().split()[0] in html, include
