"""``evaluate`` (a samples file), ``evaluate-features`` (an FID's sensitivity), ``evaluate-text``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..checkpoints import load_checkpoint
from ..experiments.prompt_following import text_report
from ..metrics.evaluate import evaluate_samples_file, load_samples
from ..metrics.fid import DEFAULT_FEATURES
from ..metrics.memorisation import memorisation
from ..metrics.validation import sensitivity_table, validate_features
from .flags import CommandError
from .output import print_json

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate``, ``evaluate-features`` and ``evaluate-text``."""
    evaluate = sub.add_parser(
        "evaluate",
        help="print JSON metrics of a samples file",
        description="Print JSON metrics of samples in [-1, 1], shape (N, 1, 28, 28): FID "
        "against the held-out digits with its bootstrap interval, n and the real-vs-real "
        "floor at n; KID; precision, recall, density and coverage; the digit classifier's "
        "judgement and, with one prompt per sample, the CLIP score and the prompted-digit "
        "accuracy",
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
        default=DEFAULT_FEATURES,
        help=f"features of FID, KID and precision/recall: {DEFAULT_FEATURES} (the default), "
        "mnist-features (the book's first, 64-d) or inception (downloads torchvision's weights)",
    )
    evaluate.add_argument("--clip", default="mnist-clip", help="CLIP checkpoint of the CLIP score")
    evaluate.add_argument(
        "--resamples", type=int, default=200, help="bootstrap resamples of FID's interval"
    )
    evaluate.add_argument(
        "--floor-draws", type=int, default=10, help="draws of the real-vs-real floor at n"
    )
    evaluate.add_argument(
        "--memorisation",
        action="store_true",
        help="also measure how close the samples come to the training digits",
    )
    evaluate.set_defaults(run=_evaluate)

    efeat = sub.add_parser(
        "evaluate-features",
        help="run the sensitivity suite of an FID feature checkpoint (JSON and a table)",
        description="Damage class-balanced picks of N real training digits with every "
        "corruption family (collapse, imbalance, missing classes, dilation, erosion, "
        "binarisation, fade, blur, noise, occlusion, patch swaps, rotation) at rising "
        "severity, score each against the held-out digits, and check that FID rises "
        "monotonically with its mildest level above the real-vs-real floor's mean + 2 sd; "
        "prints the table, and writes the JSON to --out",
    )
    efeat.add_argument("--features", default=DEFAULT_FEATURES, help="feature checkpoint")
    efeat.add_argument("--n", type=int, default=1000, help="digits per scored set")
    efeat.add_argument("--floor-draws", type=int, default=25, help="draws of the floor")
    efeat.add_argument(
        "--repeats", type=int, default=0, help="further picks for each family's mildest level"
    )
    efeat.add_argument("--seed", type=int, default=0, help="random seed")
    efeat.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    efeat.set_defaults(run=_evaluate_features)

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
    if args.resamples < 10:
        raise CommandError(f"--resamples must be >= 10; got {args.resamples}")
    if args.floor_draws < 2:
        raise CommandError(f"--floor-draws must be >= 2; got {args.floor_draws}")
    metrics = evaluate_samples_file(
        args.samples,
        prompts=args.prompts,
        classifier=args.classifier,
        features=args.features,
        clip=args.clip,
        resamples=args.resamples,
        floor_draws=args.floor_draws,
    )
    if args.memorisation:
        metrics["memorisation"] = memorisation(
            load_samples(args.samples), features=args.features
        ).as_dict()
    print(json.dumps(metrics, indent=2))
    return 0


def _evaluate_features(args: argparse.Namespace) -> int:
    if args.n < 20:
        raise CommandError(f"--n must be >= 20 (two digits per class); got {args.n}")
    if args.floor_draws < 2:
        raise CommandError(f"--floor-draws must be >= 2; got {args.floor_draws}")
    report = validate_features(
        args.features, n=args.n, floor_draws=args.floor_draws, repeats=args.repeats, seed=args.seed
    )
    print(sensitivity_table(report))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
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
