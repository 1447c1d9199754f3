"""``evaluate`` (the metrics of a samples file) and ``evaluate-text`` (does a model follow prompts)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..checkpoints import load_checkpoint
from ..experiments.prompt_following import text_report
from ..metrics.evaluate import evaluate_samples_file
from .flags import CommandError
from .output import print_json

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` and ``evaluate-text``."""
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
    evaluate.set_defaults(run=_evaluate)

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
    etext.set_defaults(run=_evaluate_text)


def _evaluate(args: argparse.Namespace) -> int:
    metrics = evaluate_samples_file(
        args.samples,
        prompts=args.prompts,
        classifier=args.classifier,
        features=args.features,
        clip=args.clip,
    )
    print(json.dumps(metrics, indent=2))
    return 0


def _evaluate_text(args: argparse.Namespace) -> int:
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
    return print_json(report, args.out)
