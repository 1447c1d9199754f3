"""``sample``: images (or 2-D points) from any checkpoint or system, with its card's defaults.

Images go to ``.npy`` as an (N, C, H, W) array or to ``.png`` as a grid; the 2-D toys' points
go to ``.npy`` as an (N, D) array or to ``.png`` as a scatter plot.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..checkpoints import load_checkpoint
from ..plotting import save_image_grid, save_scatter
from ..precision import PRECISIONS
from ..systems import System, find_system_card, load_system
from ..systems.pipeline import DENOISER_SAMPLERS, FLOW_SAMPLERS, draw_samples
from .flags import CommandError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``sample`` command."""
    sample = sub.add_parser(
        "sample",
        help="draw samples from a checkpoint",
        description="Draw samples; writes images as an (N, C, H, W) array in [-1, 1] to .npy or "
        "a grid to .png, and the 2-D toys' points as an (N, D) array to .npy or a scatter plot "
        "to .png",
    )
    sample.add_argument(
        "--checkpoint",
        required=True,
        help="weights file, model card or run folder (a path from the current folder), or a "
        "bare name such as mnist-ddpm, looked up in $DDPM_TUTORIAL_DATA/checkpoints, then in "
        "data/checkpoints/ of the current folder, of each folder above it and of the source "
        "checkout; a system of several networks (mnist-imagen, mnist-unclip) loads every part "
        "its card names",
    )
    sample.add_argument("--num-samples", type=int, required=True, help="how many samples")
    sample.add_argument(
        "--out",
        required=True,
        type=Path,
        help="FILE.npy (array) or FILE.png (a grid of images, a scatter plot of points)",
    )
    sample.add_argument(
        "--sampler",
        choices=tuple(dict.fromkeys((*DENOISER_SAMPLERS, *FLOW_SAMPLERS))),
        default=None,
        help=f"default: the model card's; {', '.join(DENOISER_SAMPLERS)} for a noise-predicting "
        f"checkpoint, {', '.join(FLOW_SAMPLERS)} for a flow-matching one (mnist-flow)",
    )
    sample.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps of the sampler (ddim, euler, heun, ...; default: the model card's)",
    )
    sample.add_argument("--eta", type=float, default=None, help="DDIM eta in [0, 1] (default 0)")
    sample.add_argument("--seed", type=int, default=0, help="random seed")
    sample.add_argument("--batch-size", type=int, default=250, help="samples drawn at once")
    sample.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="the network's forward passes: fp32 (default, the same images on every machine), "
        "bf16 or fp16 autocast, or auto (bf16 on GPUs from compute capability 8.0 and CPUs with "
        "bf16 instructions, fp16 on older GPUs such as the T4, else fp32); not for a system",
    )
    sample.add_argument(
        "--label", type=int, default=None, help="digit for a class-conditional model"
    )
    sample.add_argument("--prompt", default=None, help="text prompt for a text-conditional model")
    sample.add_argument(
        "--guidance-scale",
        type=float,
        default=None,
        help="classifier-free guidance w: eps_u + w (eps_c - eps_u); 1 = no guidance",
    )
    sample.add_argument(
        "--clip-x0",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="clip the predicted clean image to [-1, 1] at each step (default: the model card's)",
    )
    sample.add_argument(
        "--upsampler-steps",
        type=int,
        default=None,
        help="DDIM steps of a system's super-resolution stage (default: the system card's)",
    )
    sample.add_argument("--device", default=None, help="cpu, cuda or mps")
    sample.set_defaults(run=_sample)


def _sample(args: argparse.Namespace) -> int:
    if args.num_samples < 1:
        raise CommandError(f"--num-samples must be >= 1; got {args.num_samples}")
    if args.out.suffix not in (".npy", ".png"):
        raise CommandError(f"--out must end in .npy or .png; got {str(args.out)!r}")
    if find_system_card(args.checkpoint) is not None:
        if args.precision != "fp32":
            raise CommandError("--precision applies to a single checkpoint, not a system")
        samples = _sample_system(args, load_system(args.checkpoint, device=args.device or "cpu"))
        return _write_samples(args, samples)
    if args.upsampler_steps is not None:
        raise CommandError("--upsampler-steps applies to a system (mnist-imagen, mnist-unclip)")
    ckpt = load_checkpoint(args.checkpoint, device=args.device or "cpu")
    samples = draw_samples(
        ckpt,
        args.num_samples,
        sampler=args.sampler,
        steps=args.steps,
        eta=args.eta,
        seed=args.seed,
        label=args.label,
        prompt=args.prompt,
        guidance_scale=args.guidance_scale,
        clip_x0=args.clip_x0,
        batch_size=args.batch_size,
        precision=args.precision,
    )
    return _write_samples(args, samples)


def _sample_system(args: argparse.Namespace, system: System) -> Tensor:
    """Samples of a system of several networks (``mnist-imagen``, ``mnist-unclip``)."""
    if args.prompt is None:
        raise CommandError(f"{system.name!r} is a text-to-image system: pass --prompt TEXT")
    for flag, value in (("--label", args.label), ("--eta", args.eta), ("--clip-x0", args.clip_x0)):
        if value is not None:
            raise CommandError(f"{flag} does not apply to the system {system.name!r}")
    if args.sampler not in (None, "ddim"):
        raise CommandError(f"the system {system.name!r} samples with DDIM")
    out = []
    for start in range(0, args.num_samples, args.batch_size):
        n = min(args.batch_size, args.num_samples - start)
        out.append(
            system.sample(  # type: ignore[attr-defined]
                args.prompt,
                n,
                seed=args.seed + start,
                guidance_scale=args.guidance_scale,
                steps=args.steps,
                upsampler_steps=args.upsampler_steps,
            )
        )
    return torch.cat(out)


def _write_samples(args: argparse.Namespace, samples: Tensor) -> int:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".npy":
        np.save(args.out, samples.numpy().astype(np.float32))
    elif samples.ndim == 2:  # points of the 2-D toys
        save_scatter(samples, args.out)
    else:
        save_image_grid(samples, args.out)
    print(f"wrote {args.num_samples} samples of shape {tuple(samples.shape[1:])} to {args.out}")
    return 0
