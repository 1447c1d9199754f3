"""Classifier guidance measured: mnist-ddpm steered by mnist-noisy-classifier, per guidance scale.

Each row draws the same noise toward the digits of held-out captions
(:func:`~ddpm_tutorial.experiments.scoring.heldout_pairs`: one digit per sample, their
captions as the prompts that the digit judge reads), at one classifier scale ``s``
(Dhariwal & Nichol 2021, Algorithm 2; ``s = 0`` is the unguided model), and scores it like
every experiment: FID with its interval and floor at n, precision, recall, density and
coverage, and the prompted-digit accuracy with its Wilson interval. Rows rank only where
intervals separate (:func:`~ddpm_tutorial.experiments.ranking.ranking`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..checkpoints import load_checkpoint
from ..data.captions import prompt_digit
from ..systems.classifier_guidance import sample_classifier_guided
from .generators import DEFAULT_PROTOCOL, Protocol
from .ranking import ranking
from .scoring import load_judges, score_samples

__all__ = ["classifier_guidance_sweep"]


def classifier_guidance_sweep(
    model: str = "mnist-ddpm",
    classifier: str = "mnist-noisy-classifier",
    scales: Sequence[float] = (0.0, 1.0, 3.0, 10.0),
    *,
    steps: int = 50,
    batch_size: int = 100,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """Every measure per classifier scale ``s`` of DDIM (eta = 0, ``steps`` steps).

    Returns:
        ``rows`` (each with ``label`` ``s=...``, ``scale``, ``seconds`` and the scores) and
        ``ranking`` by FID, coverage, precision and the prompted-digit accuracy.
    """
    ckpt, judge = load_checkpoint(model), load_checkpoint(classifier)
    if ckpt.schedule is None or judge.schedule is None:
        raise ValueError(f"{model!r} and {classifier!r} must both carry a noise schedule")
    if not torch.equal(ckpt.schedule.alpha_bars, judge.schedule.alpha_bars):  # type: ignore[union-attr]
        raise ValueError(f"{classifier!r} was trained on another noise schedule than {model!r}")
    real, prompts = protocol.pairs()
    labels = torch.tensor([prompt_digit(p) for p in prompts])
    judges = load_judges()
    rows = []
    for s in scales:
        start = time.perf_counter()
        out = []
        for first in range(0, len(prompts), batch_size):
            batch = labels[first : first + batch_size]
            g = torch.Generator().manual_seed(protocol.seed + first)
            out.append(
                sample_classifier_guided(
                    ckpt.model,
                    judge.model,
                    ckpt.schedule,  # type: ignore[arg-type]
                    batch,
                    scale=s,
                    num_steps=steps,
                    generator=g,
                )
            )
        x = torch.cat(out)
        seconds = time.perf_counter() - start
        label = f"s={s:g}"
        path = protocol.save_path(f"{model}_classifier-guidance_{label}")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, x.numpy())
        scores = score_samples(
            x, prompts, real=real, judges=judges, seed=protocol.seed, resamples=protocol.resamples
        )
        rows.append({"label": label, "scale": s, "seconds": round(seconds, 1), **scores})
    names = [r["label"] for r in rows]
    return {
        "experiment": "classifier-guidance",
        "model": model,
        "classifier": classifier,
        "sampling": {"sampler": "ddim", "steps": steps, "eta": 0.0},
        "num_samples": protocol.num_samples,
        "prompts": "captions of held-out digits, one per sample (heldout_pairs); each sample "
        "is steered toward the digit its caption names",
        "rows": rows,
        "ranking": ranking(
            rows, names, ["fid", "coverage", "precision", "prompted_digit_accuracy"]
        ),
    }
