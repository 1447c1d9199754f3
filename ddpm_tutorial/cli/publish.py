"""``publish`` (a run's checkpoint into ``data/checkpoints``) and ``assemble`` (a system's card)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..checkpoints import publish_checkpoint
from ..systems import SYSTEM_PARTS, write_system_card
from .flags import CommandError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``assemble`` and ``publish``."""
    asm = sub.add_parser(
        "assemble",
        help="write the model card of a system of several published checkpoints",
        description="Write DEST/NAME.json naming each part (checkpoint, kind, parameters, "
        "sha256, training command) and register the system; `sample --checkpoint NAME` then "
        "loads every part",
    )
    asm.add_argument("--system", required=True, choices=tuple(SYSTEM_PARTS), help="kind")
    asm.add_argument("--name", required=True, help="the system's name, e.g. mnist-imagen")
    asm.add_argument(
        "--part",
        action="append",
        required=True,
        metavar="ROLE=CHECKPOINT",
        help="a part, e.g. base=mnist-imagen-base (repeat for each part)",
    )
    asm.add_argument("--sampling", type=Path, default=None, help="JSON file of sampling defaults")
    asm.add_argument("--extra", type=Path, default=None, help="JSON file of further card fields")
    asm.add_argument(
        "--dest", type=Path, default=Path("data/checkpoints"), help="destination folder"
    )
    asm.set_defaults(run=_assemble)

    pub = sub.add_parser(
        "publish",
        help="copy a run's checkpoint into data/checkpoints and register it",
        description="Copy RUN/model.safetensors and its card to DEST/NAME.safetensors + "
        "NAME.json and record its sha256 in DEST/../registry.json",
    )
    pub.add_argument(
        "--run", dest="run_dir", required=True, help="run folder, weights file or model card"
    )
    pub.add_argument("--name", required=True, help="checkpoint name, e.g. mnist-ddpm")
    pub.add_argument(
        "--dest", type=Path, default=Path("data/checkpoints"), help="destination folder"
    )
    pub.add_argument(
        "--metrics", type=Path, default=None, help="JSON file of metrics to add to the card"
    )
    pub.add_argument(
        "--guidance-scale",
        type=float,
        default=None,
        help="record this default classifier-free guidance scale in the card (sampling)",
    )
    pub.add_argument(
        "--clip-x0",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="record whether sampling clips the predicted clean image by default (sampling)",
    )
    pub.add_argument(
        "--sampler",
        default=None,
        help="record this default sampler in the card (sampling), e.g. heun for a flow model",
    )
    pub.add_argument(
        "--steps", type=int, default=None, help="record this default number of sampler steps"
    )
    pub.add_argument(
        "--chosen-by",
        default=None,
        help="the measurement the sampling defaults were chosen by (a sentence, recorded in the "
        "card as sampling.chosen_by)",
    )
    pub.set_defaults(run=_publish)


def _assemble(args: argparse.Namespace) -> int:
    parts = {}
    for item in args.part:
        role, sep, name = item.partition("=")
        if not sep or not role or not name:
            raise CommandError(f"--part takes ROLE=CHECKPOINT; got {item!r}")
        parts[role] = name
    card = write_system_card(
        args.name,
        args.system,
        parts,
        dest=args.dest,
        sampling=json.loads(args.sampling.read_text()) if args.sampling else None,
        extra={
            **(json.loads(args.extra.read_text()) if args.extra else {}),
            "command": args.command_line,
        },
    )
    roles = ", ".join(f"{r}={p['checkpoint']}" for r, p in card["parts"].items())
    print(f"assembled {args.name}: {roles}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    if args.guidance_scale is not None and args.guidance_scale < 0:
        raise CommandError(f"--guidance-scale must be >= 0; got {args.guidance_scale}")
    sampling: dict[str, Any] = {}
    if args.guidance_scale is not None:
        sampling["guidance_scale"] = args.guidance_scale
    if args.clip_x0 is not None:
        sampling["clip_x0"] = args.clip_x0
    if args.steps is not None and args.steps < 1:
        raise CommandError(f"--steps must be >= 1; got {args.steps}")
    for key in ("sampler", "steps", "chosen_by"):
        if getattr(args, key) is not None:
            sampling[key] = getattr(args, key)
    card = publish_checkpoint(
        args.run_dir, args.name, args.dest, metrics=metrics, sampling=sampling or None
    )
    print(f"published {args.name}: {card['weights_bytes']} bytes, sha256 {card['sha256'][:12]}...")
    return 0
