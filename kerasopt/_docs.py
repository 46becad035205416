"""Argument documentation shared by a family of classes (as Keras' `{{base_optimizer_keyword_args}}`).

A docstring names a shared block with a line holding only `{{name}}`; `shared_docs` replaces
that line with the block, indented like the placeholder. Used only where the same arguments
are documented on several classes (the second-order methods' stopping and line-search
arguments), so each is written once.
"""

import re
import textwrap

_PLACEHOLDER = re.compile(r"^([ \t]*)\{\{(\w+)\}\}[ \t]*$", re.MULTILINE)


def shared_docs(**blocks):
    """Class/function decorator: fill `{{name}}` lines of `__doc__` from `blocks`.

    Args:
        **blocks: name -> text (Google-style `name: description` lines, no indentation).

    Returns:
        The decorator; it raises `KeyError` for a placeholder with no block, so a typo
        cannot reach the documentation.

    Example:
        >>> @shared_docs(common="x: a number.")
        ... def f(x):
        ...     '''Args:
        ...         {{common}}
        ...     '''
        >>> print(f.__doc__.strip())
        Args:
                x: a number.
    """

    def fill(match):
        indent, name = match.group(1), match.group(2)
        return textwrap.indent(textwrap.dedent(blocks[name]).strip("\n"), indent)

    def decorate(obj):
        obj.__doc__ = _PLACEHOLDER.sub(fill, obj.__doc__)
        return obj

    return decorate
