"""mkdocs hook: an explicit, temporary allow-list of source files whose docstrings do not parse yet.

`mkdocs build --strict` fails on every docstring warning. The files below are being
restructured on another branch (issue 14) and cannot be edited here; their griffe warnings
are shown as INFO instead of failing the build. The lead empties this tuple at merge, after
which any docstring warning in any file fails the build again.
"""

import logging

PENDING = (
    "kerasopt/transfer/finetune.py",  # issue 14: `Args:` prose lines, combined parameter names
)


class _Demote(logging.Filter):
    def filter(self, record):
        if record.levelno == logging.WARNING and any(p in record.getMessage() for p in PENDING):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def on_startup(command, dirty):
    for name in ("mkdocs.plugins.griffe", "griffe", "mkdocs.plugins.mkdocstrings_handlers.python"):
        logging.getLogger(name).addFilter(_Demote())
