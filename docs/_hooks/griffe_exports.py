"""Griffe extension: an exported function that shares its name with its own submodule.

`kerasopt.initializers.gain` is both a module (`gain.py`) and the function the package
exports under that name (likewise `lsuv`, `second_order.fit`, `second_order.minimize`).
At run time the package attribute is the function, but Griffe's tree keeps the submodule
(or an alias that points back at itself) under that name, so the API reference would not
show the function. For every such name in a package's `__all__`, this sets the package's
member to the function, inspected from its module, as Python does. Other aliases that lead
through the submodule (e.g. `initializers.glorot`, defined in `gain.py`) are resolved first.

It also drops, from every module that has an `__all__`, the names it merely imports and
does not export (e.g. `check_choice` in `kerasopt.datasets`), so the reference shows what
the module exports and nothing else.
"""

import importlib
import inspect

import griffe


class ExportedOverSubmodule(griffe.Extension):
    def on_package(self, *, pkg, loader, **kwargs):
        for module in [pkg, *self._submodules(pkg)]:
            runtime = importlib.import_module(module.path)
            for name in module.exports or ():
                obj = getattr(runtime, name, None)
                submodule = f"{module.path}.{name}"
                if (
                    not (inspect.isfunction(obj) or inspect.isclass(obj))
                    or obj.__module__ != submodule
                ):
                    continue
                for alias in [m for m in module.members.values() if m.is_alias and m.name != name]:
                    try:
                        alias.resolve_target()
                    except griffe.AliasResolutionError:
                        pass  # resolved, or reported, by mkdocstrings later as usual
                inspected = griffe.inspect(
                    name,
                    parent=module,
                    docstring_parser=loader.docstring_parser,
                    docstring_options=loader.docstring_options,
                )
                module.set_member(name, griffe.Alias(name, inspected.members[name], parent=module))
            if module.exports is not None:
                for name in [
                    n for n, m in module.members.items() if m.is_alias and n not in module.exports
                ]:
                    module.del_member(name)

    def _submodules(self, module):
        for member in module.members.values():
            if not member.is_alias and member.is_module:
                yield member
                yield from self._submodules(member)
