"""Copy the measurements at each card's defaults from the experiments' JSON into the cards.

The experiments ``card-defaults`` and ``part4-comparison`` (``python -m ddpm_tutorial
experiment NAME --out data/experiments/NAME.json``) sample every shipped generator at its
card's sampling defaults and score it with every measure of
:func:`ddpm_tutorial.experiments.scoring.score_samples`: FID on ``mnist-style-features`` with
its interval, n and real-vs-real floor at n; the first features' FID beside it; KID;
precision, recall, density and coverage with what real digits score at n; the CLIP score and
the prompted-digit accuracy where the generator takes prompts; memorisation. This tool writes
each row into its card as ``metrics.at_card_defaults`` (with the experiment's command), so the
card says what the model draws, measured by a command, and the weights are untouched (their
sha256 does not change)::

    python tools/card_metrics.py data/experiments/card-defaults.json \\
        data/experiments/part4-comparison.json

A system's card (``mnist-imagen``, ``mnist-unclip``) is also the output of ``assemble`` with
``--extra data/systems/NAME.extra.json``: the same block goes there, so a re-assembled card
keeps it. Older blocks measured with the first, blind features (``part4_comparison``, and the
copies of the ``thresholding`` and ``unclip-priors`` tables) are replaced by a pointer to the
experiment's JSON, where the re-measured table lives.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["card_block", "update_card"]

#: the row's fields the card keeps (the rest is in the experiment's JSON)
KEPT = (
    "n",
    "sampling",
    "fid",
    "fid_mnist-features",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "prdc_k",
    "clip_score",
    "prompted_digit_accuracy",
    "memorisation",
    "pixels",
    "seconds_per_100",
    "prompts",
)
#: card metrics once copied from an experiment, replaced by a pointer to its JSON
SUPERSEDED = {
    "part4_comparison": "data/experiments/part4-comparison.json",
    "thresholding": "data/experiments/thresholding.json",
    "priors": "data/experiments/unclip-priors.json",
}


def card_block(row: dict[str, Any], experiment: dict[str, Any]) -> dict[str, Any]:
    """The ``metrics.at_card_defaults`` block of one experiment row."""
    block = {k: row[k] for k in KEPT if k in row}
    block["command"] = experiment["command"]
    block["torch_threads"] = experiment.get("torch_threads")
    return block


def update_card(path: Path, block: dict[str, Any], root: Path) -> None:
    """Write ``block`` into the card (or a system's ``.extra.json``) at ``path``."""
    card = json.loads(path.read_text())
    metrics = card.setdefault("metrics", {})
    metrics["at_card_defaults"] = block
    for key, where in SUPERSEDED.items():
        if key in metrics:  # the old copy, or a pointer whose command may have changed
            done = root / where
            command = json.loads(done.read_text())["command"] if done.exists() else None
            metrics[key] = {
                "see": where,
                "command": command,
                "note": "re-measured with mnist-style-features, intervals and floors; the "
                "numbers once copied here used the first features (mnist-features), which "
                "cannot see collapse inside a class",
            }
    path.write_text(json.dumps(card, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", type=Path, nargs="+", help="experiment JSON files")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository")
    args = parser.parse_args(argv)
    checkpoints, systems = args.root / "data" / "checkpoints", args.root / "data" / "systems"
    for file in args.experiments:
        experiment = json.loads(file.read_text())
        if experiment.get("experiment") not in ("card-defaults", "part4-comparison"):
            print(f"{file}: not a card-defaults or part4-comparison table", file=sys.stderr)
            return 2
        for row in experiment["rows"]:
            block = card_block(row, experiment)
            targets = [checkpoints / f"{row['model']}.json", systems / f"{row['model']}.extra.json"]
            found = [t for t in targets if t.exists()]
            if not found:
                print(f"{row['model']}: no card in {checkpoints}", file=sys.stderr)
                return 2
            for target in found:
                update_card(target, block, args.root)
                print(f"{target}: at_card_defaults from {file} (n = {row['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
