"""``experiment NAME``: run a measured experiment of Parts II, IV and V and write its JSON."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..experiments import (
    SHIPPED_GENERATORS,
    Protocol,
    card_defaults,
    classifier_guidance_sweep,
    encoder_vs_denoiser,
    guidance_tradeoff,
    latent_savings,
    part4_comparison,
    quality_against_calls,
    text_backbones,
    thresholding,
    unclip_priors,
)
from ..experiments.editing import STRENGTHS, editing_experiment
from .flags import CommandError
from .output import print_json

__all__ = ["EXPERIMENTS", "register"]

#: --clip-x0 choices -> the clip_x0 setting (None: the card's)
_CLIP = {"card": None, "on": True, "off": False}


def _one(names: list[str] | None, what: str) -> str:
    if not names or len(names) != 1:
        raise CommandError(f"{what} takes one checkpoint (--checkpoints NAME)")
    return names[0]


def _common(args: argparse.Namespace) -> dict[str, Any]:
    """The protocol every experiment takes: samples per row, seed, bootstrap, saved samples."""
    save_dir = str(args.save_samples) if args.save_samples is not None else None
    return {"protocol": Protocol(args.num_samples, args.seed, args.resamples, save_dir)}


def _settings(args: argparse.Namespace, default_scales: list[float]) -> dict[str, Any]:
    """The guidance grid of guidance-tradeoff and encoder-vs-denoiser."""
    return {
        "guidance_scales": args.guidance_scales or default_scales,
        "clip_x0": [_CLIP[c] for c in args.clip_x0],
        "steps": args.steps,
        "etas": args.etas or [None],
    }


def _guidance_tradeoff(args: argparse.Namespace) -> dict[str, Any]:
    return guidance_tradeoff(
        _one(args.checkpoints, "guidance-tradeoff"),
        **_settings(args, [1.0, 2.0, 3.0, 5.0, 8.0]),
        **_common(args),
    )


def _encoder_vs_denoiser(args: argparse.Namespace) -> dict[str, Any]:
    if not args.checkpoints:
        raise CommandError("encoder-vs-denoiser needs --checkpoints")
    return encoder_vs_denoiser(args.checkpoints, **_settings(args, [3.0]), **_common(args))


def _text_backbones(args: argparse.Namespace) -> dict[str, Any]:
    return text_backbones(
        args.checkpoints or ["mnist-flow-text", "mnist-mmdit"],
        **_settings(args, [1.0, 2.0, 3.0, 5.0]),
        **_common(args),
    )


def _part4_comparison(args: argparse.Namespace) -> dict[str, Any]:
    names = [args.checkpoints] if args.checkpoints else []
    return part4_comparison(*names, **_common(args))


def _card_defaults(args: argparse.Namespace) -> dict[str, Any]:
    return card_defaults(args.checkpoints or SHIPPED_GENERATORS, **_common(args))


def _latent_savings(args: argparse.Namespace) -> dict[str, Any]:
    if args.checkpoints and len(args.checkpoints) != 2:
        raise CommandError("latent-savings takes two checkpoints: PIXEL LATENT")
    return latent_savings(
        *(args.checkpoints or []), repeats=max(1, args.num_samples // 100), **_common(args)
    )


def _thresholding(args: argparse.Namespace) -> dict[str, Any]:
    if args.checkpoints and len(args.checkpoints) != 1:
        raise CommandError("thresholding takes one Imagen system")
    return thresholding(
        *(args.checkpoints or []),
        guidance_scales=args.guidance_scales or [1.0, 3.0, 8.0, 15.0],
        limits=args.limits,
        percentiles=args.percentiles,
        **_common(args),
    )


def _unclip_priors(args: argparse.Namespace) -> dict[str, Any]:
    if args.checkpoints and len(args.checkpoints) != 2:
        raise CommandError("unclip-priors takes SYSTEM REGRESSION_PRIOR")
    return unclip_priors(*(args.checkpoints or []), **_common(args))


def _samplers(args: argparse.Namespace) -> dict[str, Any]:
    return quality_against_calls(
        args.checkpoints or ["mnist-ddpm", "mnist-flow"], args.calls, **_common(args)
    )


def _classifier_guidance(args: argparse.Namespace) -> dict[str, Any]:
    if args.checkpoints and len(args.checkpoints) != 2:
        raise CommandError("classifier-guidance takes MODEL CLASSIFIER")
    names = args.checkpoints or ["mnist-ddpm", "mnist-noisy-classifier"]
    return classifier_guidance_sweep(
        *names,
        scales=args.guidance_scales or [0.0, 1.0, 3.0, 10.0],
        steps=args.steps or 50,
        **_common(args),
    )


def _editing(args: argparse.Namespace) -> dict[str, Any]:
    return editing_experiment(
        args.checkpoints or ["mnist-ddpm", "mnist-flow"],
        inversion_steps=args.inversion_steps,
        strengths=args.strengths,
        steps=args.steps or 50,
        resamples=args.resample_counts,
        **_common(args),
    )


#: name -> the function that runs it from the parsed arguments
EXPERIMENTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "guidance-tradeoff": _guidance_tradeoff,
    "encoder-vs-denoiser": _encoder_vs_denoiser,
    "text-backbones": _text_backbones,
    "part4-comparison": _part4_comparison,
    "card-defaults": _card_defaults,
    "latent-savings": _latent_savings,
    "thresholding": _thresholding,
    "unclip-priors": _unclip_priors,
    "samplers-nfe": _samplers,
    "classifier-guidance": _classifier_guidance,
    "editing": _editing,
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``experiment`` command."""
    exp = sub.add_parser(
        "experiment",
        help="run a measured experiment of Parts II, IV and V and write its JSON",
        description="Every row is scored the same way: FID with its bootstrap interval, n and "
        "the real-vs-real floor at n; KID; precision, recall, density and coverage with "
        "intervals and what real digits score at n; the CLIP score and the prompted-digit "
        "accuracy with intervals. Rows rank only where intervals separate. "
        "guidance-tradeoff: per guidance scale (and --clip-x0 choice) of one text-to-image "
        "checkpoint or system (an unconditional checkpoint: per --clip-x0 and --etas at w = 1), "
        "with a recommended default; encoder-vs-denoiser: several "
        "checkpoints at each setting, and each one's recommended default; text-backbones: the "
        "same for a text UNet against an MM-DiT trained alike (default mnist-flow-text "
        "mnist-mmdit at w = 1 2 3 5); part4-comparison: "
        "Part IV's closing table at each card's defaults (parameters, s/100 samples); "
        "card-defaults: every shipped generator at its card's defaults, with memorisation and "
        "the first FID features (the numbers the cards carry); latent-savings: time per "
        "training step and per sample, pixel vs latent, and the quality of the samples timed; "
        "thresholding: no limit, static clipping and dynamic thresholding at each "
        "--percentiles over guidance scales; unclip-priors: unCLIP through its diffusion "
        "prior, the regression baseline and no prior; samplers-nfe: every sampler of each unconditional "
        "checkpoint (default mnist-ddpm mnist-flow) at each budget of --calls network calls; "
        "classifier-guidance: mnist-ddpm steered by mnist-noisy-classifier at each scale "
        "(--guidance-scales, default 0 1 3 10); editing: on --num-samples held-out digits, "
        "the inversion round trip's RMSE per --inversion-steps, SDEdit per --strengths and "
        "inpainting per --resample-counts, for each checkpoint (default mnist-ddpm mnist-flow). "
        "Prompts are held-out captions.",
    )
    exp.add_argument("name", choices=tuple(EXPERIMENTS))
    exp.add_argument(
        "--checkpoints",
        nargs="+",
        default=None,
        help="text-to-image checkpoint(s) or system(s); part4-comparison defaults to "
        "mnist-text mnist-sd mnist-unclip mnist-imagen, card-defaults to every shipped "
        f"generator ({' '.join(SHIPPED_GENERATORS)}), latent-savings to mnist-text mnist-sd, "
        "thresholding to mnist-imagen, unclip-priors to mnist-unclip "
        "mnist-unclip-prior-regression",
    )
    exp.add_argument(
        "--guidance-scales",
        type=float,
        nargs="+",
        default=None,
        help="guidance scales of guidance-tradeoff (default 1 2 3 5 8), encoder-vs-denoiser "
        "(default 3), text-backbones (default 1 2 3 5), thresholding (default 1 3 8 15) and classifier-guidance (the "
        "classifier scales s, default 0 1 3 10)",
    )
    exp.add_argument(
        "--clip-x0",
        nargs="+",
        choices=tuple(_CLIP),
        default=["card"],
        help="guidance-tradeoff, encoder-vs-denoiser and text-backbones: sample every scale "
        "with each of "
        "these: the card's clip_x0 (default), on, off",
    )
    exp.add_argument(
        "--etas",
        type=float,
        nargs="+",
        default=None,
        help="guidance-tradeoff and encoder-vs-denoiser: sample every scale with each DDIM "
        "eta (default: the card's)",
    )
    exp.add_argument(
        "--limits",
        nargs="+",
        choices=("none", "static", "dynamic"),
        default=["none", "static", "dynamic"],
        help="thresholding: the limits on the predicted clean image",
    )
    exp.add_argument(
        "--percentiles",
        type=float,
        nargs="+",
        default=[0.9, 0.95, 0.99, 0.995],
        help="thresholding: the percentiles of dynamic thresholding (Imagen: 0.995)",
    )
    exp.add_argument(
        "--num-samples",
        type=int,
        default=1000,
        help="samples per row (latent-savings: timed in rounds of 100; default 1000)",
    )
    exp.add_argument("--steps", type=int, default=None, help="DDIM steps (default: each card's)")
    exp.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=[2, 5, 10, 20, 50],
        help="samplers-nfe: the budgets of network calls (Heun takes 2 N - 1 per N steps)",
    )
    exp.add_argument(
        "--inversion-steps",
        type=int,
        nargs="+",
        default=[5, 10, 20, 50, 100],
        help="editing: the steps N of each inversion row",
    )
    exp.add_argument(
        "--strengths",
        type=float,
        nargs="+",
        default=list(STRENGTHS),
        help="editing: SDEdit's strengths (default 0, 0.1, ..., 1)",
    )
    exp.add_argument(
        "--resample-counts",
        type=int,
        nargs="+",
        default=[1, 5],
        help="editing: RePaint's resampling counts U of the inpainting rows",
    )
    exp.add_argument("--seed", type=int, default=0, help="random seed")
    exp.add_argument(
        "--resamples", type=int, default=200, help="bootstrap resamples of every interval"
    )
    exp.add_argument(
        "--save-samples",
        type=Path,
        default=None,
        help="also write each row's samples to this folder (.npy), to score them again",
    )
    exp.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    exp.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    exp.set_defaults(run=_experiment)


def _experiment(args: argparse.Namespace) -> int:
    if args.num_samples < 6:
        raise CommandError(
            f"--num-samples must be >= 6 (precision and recall need more than k = 5); "
            f"got {args.num_samples}"
        )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = EXPERIMENTS[args.name](args)
    result["command"] = args.command_line
    result["torch_threads"] = torch.get_num_threads()
    return print_json(result, args.out)
