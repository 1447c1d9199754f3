"""Command-line flags made from typed dataclasses, and the one-line errors of the command line.

Every field of a config dataclass becomes a flag, its type read with
:func:`typing.get_type_hints`: ``int``, ``float`` and ``str`` as themselves, ``int | None`` as an
int or ``none``, a ``Literal`` as a choice, a ``tuple[...]`` as one or more values.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
import types
import typing
from collections.abc import Iterable
from typing import Any, NoReturn, Union

__all__ = ["CommandError", "Parser", "add_dataclass_flags", "collect_flags", "flag_name"]


class CommandError(ValueError):
    """A command-line argument that cannot be used; printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``error: ...``), exit status 2.

    A flag that no command knows is refused before anything else, and one close to a known
    flag names it: ``--num_samples`` gets "did you mean --num-samples?" (argparse on its own
    would complain that the right one is missing).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        command = self._subcommand(argv)
        known = _option_strings(command or self)
        for token in argv:
            flag = token.split("=", 1)[0]
            if flag.startswith("--") and flag not in known:
                close = difflib.get_close_matches(flag.replace("_", "-"), known, n=1, cutoff=0.8)
                hint = f"; did you mean {close[0]}?" if close else ""
                self.error(f"unrecognized arguments: {flag}{hint}")
        return super().parse_args(argv, namespace)

    def _subcommand(self, argv: list[str]) -> argparse.ArgumentParser | None:
        for action in self._actions:  # argparse keeps them here; there is no public accessor
            if (
                isinstance(action, argparse._SubParsersAction)
                and argv
                and argv[0] in action.choices
            ):
                return action.choices[argv[0]]
        return None


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--flag`` of ``parser`` (``--help`` and ``--version`` included)."""
    return [s for action in parser._actions for s in action.option_strings if s.startswith("--")]


def flag_name(field_name: str, prefix: str = "") -> str:
    """``batch_size`` -> ``--batch-size``; with prefix ``model.``: ``--model.batch-size``."""
    return "--" + prefix + field_name.replace("_", "-")


def _parse_optional_int(value: str) -> int | None:
    return None if value.lower() == "none" else int(value)


def _kwargs_for(hint: Any) -> dict[str, Any]:
    """argparse keyword arguments (type, nargs, choices) for one type hint."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        if inner == [int]:
            return {"type": _parse_optional_int}
        if len(inner) == 1:
            return _kwargs_for(inner[0])
    if origin is typing.Literal:
        return {"type": type(args[0]), "choices": list(args)}
    if origin is tuple:
        item = args[0] if args else str
        return {"type": item, "nargs": "+"}
    if hint in (int, float, str):
        return {"type": hint}
    raise TypeError(f"no command-line flag for a field of type {hint!r}")


def add_dataclass_flags(
    group: argparse._ArgumentGroup | argparse.ArgumentParser,
    cls: type,
    *,
    dest_prefix: str,
    flag_prefix: str = "",
    skip: Iterable[str] = (),
    seen: set[str] | None = None,
) -> None:
    """Add a flag for every field of the dataclass ``cls`` (default None: "not given").

    The flag of field ``f`` is ``--{flag_prefix}f`` and stores into ``dest_prefix + f``;
    ``seen`` collects field names already added by another class, so that configs sharing
    fields share their flags.
    """
    hints = typing.get_type_hints(cls)
    skipped = set(skip)
    for f in dataclasses.fields(cls):
        if f.name in skipped or (seen is not None and f.name in seen):
            continue
        if seen is not None:
            seen.add(f.name)
        group.add_argument(
            flag_name(f.name, flag_prefix),
            dest=dest_prefix + f.name,
            default=None,
            metavar=f.name.upper(),
            help=f.metadata.get("help", f"{cls.__name__}.{f.name}"),
            **_kwargs_for(hints[f.name]),
        )


def collect_flags(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """The flags given under ``prefix`` (those not None), without it; lists become tuples."""
    return {
        key[len(prefix) :]: tuple(value) if isinstance(value, list) else value
        for key, value in vars(args).items()
        if key.startswith(prefix) and value is not None
    }
