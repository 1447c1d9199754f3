"""The command line: ``python -m ddpm_tutorial train | sample | evaluate | experiment | ...``.

::

    python -m ddpm_tutorial train  --config NAME [--profile smoke|cpu|full] [--FIELD VALUE ...] --out DIR
    python -m ddpm_tutorial sample --checkpoint PATH --num-samples N --out FILE.npy|FILE.png
                                   [--sampler ddpm|ddim|euler|heun|dpm-solver++] [--steps K]
                                   [--eta E] [--seed S] [--label K | --prompt TEXT]
                                   [--guidance-scale W]
    python -m ddpm_tutorial edit img2img|inpaint|invert --checkpoint NAME
                                   --image FILE.png|FILE.npy | --digit K  --out FILE
                                   [--strength S] [--mask FILE|top|bottom|left|right]
    python -m ddpm_tutorial evaluate --samples FILE.npy [--prompts FILE.txt]
    python -m ddpm_tutorial evaluate-text --checkpoint NAME [--out FILE.json]

Every field of :class:`~ddpm_tutorial.runs.config.TrainConfig` is a ``train`` flag
(``--batch-size``), and every field of the network's config one with a ``model.`` prefix
(``--model.base-channels``). Each command lives in its own module (``train``, ``sample``,
``edit``, ``evaluate``, ``experiment``, ``publish``), which adds its parser and names the function that
runs it.

A wrong input (a checkpoint that does not exist, a label out of range, a bad flag) is one line
on stderr and exit status 2; any other error is a bug and shows its traceback (``--debug`` shows
the traceback of the first kind too).
"""

from __future__ import annotations

import sys

from .._version import __version__
from ..checkpoints import CheckpointError
from ..runs.run import command_line
from . import edit, evaluate, experiment, publish, sample, train
from .flags import CommandError, Parser

__all__ = ["CommandError", "build_parser", "main"]

#: errors that mean "this input cannot be used": one line, exit status 2
USAGE_ERRORS = (CommandError, CheckpointError, FileNotFoundError, ValueError)


def build_parser() -> Parser:
    """The parser of every command."""
    parser = Parser(
        prog="python -m ddpm_tutorial",
        description="Train, sample and evaluate the diffusion models of the ddpm-tutorial book.",
    )
    parser.add_argument("--version", action="version", version=f"ddpm-tutorial {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (train, sample, edit, evaluate, experiment, publish):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 with one line on stderr for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = command_line(argv)
    try:
        return int(args.run(args))
    except USAGE_ERRORS as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
