"""The package's public namespaces and what each exports, found from the package itself.

Shared by the doctest and documentation tests, so a new namespace (a new subpackage or public
module under `kerasopt/`) is covered by both without editing either.
"""

import importlib
import inspect
import pkgutil

import kerasopt


def namespaces():
    """Every public subpackage or module directly under `kerasopt`, e.g. "kerasopt.optimizers"."""
    return sorted(
        f"kerasopt.{m.name}"
        for m in pkgutil.iter_modules(kerasopt.__path__)
        if not m.name.startswith("_")
    )


def exported_names(namespace):
    """The names the namespace exports: its `__all__`, or else the public classes and
    functions it defines itself."""
    module = importlib.import_module(namespace)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, o in vars(module).items()
            if not n.startswith("_")
            and (inspect.isclass(o) or inspect.isfunction(o))
            and o.__module__ == namespace
        ]
    return list(names)


def public_objects(namespace):
    """(qualified name, object) for each exported class and function (constants excluded)."""
    module = importlib.import_module(namespace)
    out = []
    for name in exported_names(namespace):
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            out.append((f"{namespace}.{name}", obj))
    return out
