"""``experiment NAME``: run a measured experiment of Parts II and IV and write its JSON."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import load_checkpoint
from ..experiments import (
    encoder_vs_denoiser,
    guidance_tradeoff,
    latent_savings,
    part4_comparison,
    thresholding,
    unclip_priors,
)
from .flags import CommandError
from .output import print_json

__all__ = ["EXPERIMENTS", "register"]


def _one(names: list[str] | None, what: str) -> str:
    if not names or len(names) != 1:
        raise CommandError(f"{what} takes one checkpoint (--checkpoints NAME)")
    return names[0]


def _guidance_tradeoff(args: argparse.Namespace) -> dict[str, Any]:
    ckpt = load_checkpoint(_one(args.checkpoints, "guidance-tradeoff"))
    return guidance_tradeoff(
        ckpt, args.guidance_scales, num_samples=args.num_samples, steps=args.steps, seed=args.seed
    )


def _encoder_vs_denoiser(args: argparse.Namespace) -> dict[str, Any]:
    if not args.checkpoints:
        raise CommandError("encoder-vs-denoiser needs --checkpoints")
    return encoder_vs_denoiser(
        args.checkpoints,
        guidance_scale=args.guidance_scale,
        num_samples=args.num_samples,
        steps=args.steps,
        seed=args.seed,
    )


def _part4_comparison(args: argparse.Namespace) -> dict[str, Any]:
    names = [args.checkpoints] if args.checkpoints else []
    return part4_comparison(*names, num_samples=args.num_samples, seed=args.seed)


def _latent_savings(args: argparse.Namespace) -> dict[str, Any]:
    if args.checkpoints and len(args.checkpoints) != 2:
        raise CommandError("latent-savings takes two checkpoints: PIXEL LATENT")
    return latent_savings(
        *(args.checkpoints or []), num_samples=min(args.num_samples, 100), seed=args.seed
    )


def _thresholding(args: argparse.Namespace) -> dict[str, Any]:
    if args.checkpoints and len(args.checkpoints) != 1:
        raise CommandError("thresholding takes one Imagen system")
    return thresholding(
        *(args.checkpoints or []),
        guidance_scales=args.guidance_scales,
        num_samples=args.num_samples,
        seed=args.seed,
    )


def _unclip_priors(args: argparse.Namespace) -> dict[str, Any]:
    if args.checkpoints and len(args.checkpoints) != 2:
        raise CommandError("unclip-priors takes SYSTEM REGRESSION_PRIOR")
    return unclip_priors(*(args.checkpoints or []), num_samples=args.num_samples, seed=args.seed)


#: name -> the function that runs it from the parsed arguments
EXPERIMENTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "guidance-tradeoff": _guidance_tradeoff,
    "encoder-vs-denoiser": _encoder_vs_denoiser,
    "part4-comparison": _part4_comparison,
    "latent-savings": _latent_savings,
    "thresholding": _thresholding,
    "unclip-priors": _unclip_priors,
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``experiment`` command."""
    exp = sub.add_parser(
        "experiment",
        help="run a measured experiment of Part IV and write its JSON",
        description="guidance-tradeoff: FID and CLIP score per guidance scale of one "
        "text-to-image checkpoint; encoder-vs-denoiser: FID, CLIP score and prompted-digit "
        "accuracy of several checkpoints at one scale; part4-comparison: Part IV's closing "
        "table (FID, CLIP score, prompted-digit accuracy, parameters, s/100 samples); "
        "latent-savings: time per training step and per sample, pixel vs latent; "
        "thresholding: static clipping vs dynamic thresholding over guidance scales; "
        "unclip-priors: unCLIP through its diffusion prior, the regression baseline and no "
        "prior. Prompts are held-out captions.",
    )
    exp.add_argument("name", choices=tuple(EXPERIMENTS))
    exp.add_argument(
        "--checkpoints",
        nargs="+",
        default=None,
        help="text-to-image checkpoint(s) or system(s); part4-comparison defaults to "
        "mnist-text mnist-sd mnist-unclip mnist-imagen, latent-savings to mnist-text mnist-sd, "
        "thresholding to mnist-imagen, unclip-priors to mnist-unclip "
        "mnist-unclip-prior-regression",
    )
    exp.add_argument(
        "--guidance-scales",
        type=float,
        nargs="+",
        default=[1.0, 2.0, 3.0, 5.0, 8.0],
        help="scales of guidance-tradeoff",
    )
    exp.add_argument(
        "--guidance-scale", type=float, default=3.0, help="the scale of encoder-vs-denoiser"
    )
    exp.add_argument("--num-samples", type=int, default=400, help="samples per row")
    exp.add_argument("--steps", type=int, default=25, help="DDIM steps")
    exp.add_argument("--seed", type=int, default=0, help="random seed")
    exp.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    exp.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    exp.set_defaults(run=_experiment)


def _experiment(args: argparse.Namespace) -> int:
    if args.num_samples < 2:
        raise CommandError(
            f"--num-samples must be >= 2 (FID needs several); got {args.num_samples}"
        )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = EXPERIMENTS[args.name](args)
    result["command"] = args.command_line
    result["torch_threads"] = torch.get_num_threads()
    return print_json(result, args.out)
