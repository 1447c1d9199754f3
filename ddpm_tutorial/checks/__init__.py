"""Exercise checkers that readers call on their own code, in their own session.

Each checker compares a reader's function (or result) with the package's reference on a
small fixed input, prints ``<name> passed`` and returns None, or raises ``AssertionError``
with a sentence that says what differs. The checkers live in modules named after the
concept they check (``checks.forward_process``, ``checks.reverse_process``, ...); every
public checker is importable from ``ddpm_tutorial.checks`` directly.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__: list[str] = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name in getattr(_module, "__all__", []):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
