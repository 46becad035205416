"""mkdocs hook: the Benchmarks page, generated at build time from `benchmarks/results/*.md`.

Each benchmark script writes `benchmarks/results/NAME.{json,md}`; this hook puts every
Markdown table on one page, in name order, under a heading naming the command that made it.
`summary.md` (written by `python -m benchmarks`) comes first.
Nothing is copied by hand, so the page cannot drift from the committed results.
"""

from pathlib import Path

from mkdocs.structure.files import File

PAGE = "benchmarks.md"


def _page(root):
    results = sorted(
        (root / "benchmarks" / "results").glob("*.md"), key=lambda p: (p.stem != "summary", p.stem)
    )
    parts = [
        "# Benchmarks\n",
        "Generated from `benchmarks/results/*.md` when the site is built. Each section is one "
        "benchmark script's Markdown output; its JSON twin (`benchmarks/results/NAME.json`) "
        "holds the raw figures and the machine description. The guides explain how to read "
        "each table. Timings from a shared 2-core machine are noisy: compare ratios measured "
        "in one run, not rows across runs.\n",
    ]
    for path in results:
        name = path.stem
        lines = path.read_text(encoding="utf-8").strip().splitlines()
        title = name
        if lines and lines[0].startswith("# "):
            title, lines = lines[0][2:].strip(), lines[1:]
        # the file's own headings go one level below the section heading
        body = "\n".join("#" + line if line.startswith("##") else line for line in lines).strip()
        source = (
            "Script: `python -m benchmarks`; file: `benchmarks/results/summary.md`."
            if name == "summary"
            else f"Script: `python -m benchmarks.{name}`; files: "
            f"`benchmarks/results/{name}.md`, `benchmarks/results/{name}.json`."
        )
        parts.append(f"## {title} {{#{name}}}\n\n{source}\n\n{body}\n")
    return "\n".join(parts)


def on_files(files, config):
    root = Path(config["config_file_path"]).parent
    files.append(File.generated(config, PAGE, content=_page(root)))
    return files
