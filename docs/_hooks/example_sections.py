"""mkdocs hook: read a Google-style `Example:` heading as an examples section.

kerasopt's docstrings use Keras' singular `Example:` heading (the house style). Griffe's
Google parser knows only the plural `Examples:` and would render `Example:` as an
admonition, where `>>>` lines turn into nested block quotes. This adds the singular as an
alias, so doctests render as code. Griffe keeps the table in a private module: if it moves,
the build stops here with a clear error instead of rendering the examples as prose.
"""

from griffe import DocstringSectionKind


def on_startup(command, dirty):
    try:
        from griffe._internal.docstrings import google
    except ImportError as error:  # pragma: no cover - depends on griffe's layout
        raise SystemExit(
            f"docs/_hooks/example_sections.py: griffe's Google parser moved ({error})"
        ) from error
    google._section_kind.setdefault("example", DocstringSectionKind.examples)
