"""Does an FID see what it should? Damage real digits in known ways and watch the FID rise.

A feature extractor earns trust when its FID moves with the damage. :func:`sensitivity_suite`
takes a class-balanced pick of n real training digits, damages it with every corruption family
of :mod:`ddpm_tutorial.metrics.corruptions` at every severity, and scores each damaged set
against the held-out digits. Its criterion, per family:

* **monotonic**: floor mean < FID(mildest) < ... < FID(strongest), strictly;
* **above the floor**: FID(mildest) > the floor's mean + 2 sd, where the floor is the FID of
  other class-balanced picks of n real training digits against the same reference
  (:func:`~ddpm_tutorial.metrics.intervals.floor_from_features`, stratified like the pick);
* **pass** = both. ``z`` is (FID(mildest) - floor mean) / floor sd. With ``repeats`` R, the
  mildest level is scored again on R further picks, and ``robust`` says whether every one of
  them is above the floor too.

``python -m ddpm_tutorial train-features`` runs the full suite and writes its table into the
card; ``python -m ddpm_tutorial evaluate-features`` runs it on any feature checkpoint;
:func:`validate_features` is the call a chapter makes, and :func:`sensitivity_table` prints the
result as a table.

:func:`fid_validation` is the book's first, smaller check (blur, noise and pixel shuffle of
random real digits), recorded in the card of ``mnist-features``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..data.mnist import load_mnist
from .corruptions import (
    CORRUPTIONS,
    LADDERS,
    corrupt_images,
    corrupt_set,
    stratified_pick,
)
from .fid import (
    DEFAULT_FEATURES,
    FeatureExtractor,
    extract_features,
    frechet_distance,
    gaussian_statistics,
    load_feature_extractor,
)
from .intervals import floor_from_features

__all__ = [
    "CORRUPTIONS",
    "CRITERION",
    "VALIDATION_STRENGTHS",
    "corrupt_images",
    "fid_validation",
    "sensitivity_suite",
    "sensitivity_table",
    "validate_features",
]

#: the suite's pass criterion, as the card records it
CRITERION = (
    "pass = monotonic (floor mean < FID at the mildest level < ... < FID at the strongest) "
    "and above the floor (FID at the mildest level > floor mean + 2 sd, the floor being the "
    "FID of other class-balanced picks of n real training digits against the same reference)"
)


def sensitivity_suite(
    extractor: FeatureExtractor | str,
    train: tuple[Tensor, Tensor],
    reference: Tensor,
    *,
    n: int = 1000,
    families: dict[str, tuple[float, ...]] | None = None,
    floor_draws: int = 25,
    repeats: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Score damaged picks of real digits against the reference, per family and severity.

    Args:
        extractor: a feature extractor or its name.
        train: (images (P, 1, 28, 28), labels (P,)) of real digits not in the reference (the
            training split): the picks, the floor and the redrawn families come from here.
        reference: the reference digits (the held-out split), (R, 1, 28, 28).
        n: digits per scored set (the same n for the floor).
        families: family -> severities, mildest first (default: every family of
            :data:`~ddpm_tutorial.metrics.corruptions.LADDERS`).
        floor_draws: class-balanced draws of the floor at n.
        repeats: further picks on which the mildest level of each family is scored again.
        seed: the pick uses ``seed``; every level of a family is damaged with a generator
            seeded ``seed + 1`` (so the levels nest); the floor uses ``seed + 1000``.

    Returns:
        JSON-ready: ``n``, ``num_reference``, ``feature_dim``, ``criterion``, ``floor`` (mean,
        sd, upper, draws), ``clean`` (FID of the undamaged pick), ``families`` (per family:
        ``levels``, ``fid``, ``z_mildest``, ``monotonic``, ``above_floor``, ``pass``, and with
        repeats ``repeats_mildest`` and ``robust``) and ``passed`` (every family passes).
    """
    images, labels = train
    ladders = families if families is not None else LADDERS
    unknown = sorted(set(ladders) - set(LADDERS))
    if unknown:
        raise ValueError(f"unknown families {unknown}; choose from {', '.join(LADDERS)}")
    extract = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    ref_stats = gaussian_statistics(extract_features(reference, extract))

    def score(x: Tensor) -> float:
        return frechet_distance(*gaussian_statistics(extract_features(x, extract)), *ref_stats)

    floor = floor_from_features(
        extract_features(images, extract),
        labels,
        ref_stats,
        n,
        draws=floor_draws,
        stratified=True,
        seed=seed + 1000,
    )
    pick = stratified_pick(images, labels, n, torch.Generator().manual_seed(seed))
    others = [
        stratified_pick(images, labels, n, torch.Generator().manual_seed(seed + 100 + r))
        for r in range(1, repeats + 1)
    ]
    report: dict[str, Any] = {
        "n": n,
        "num_reference": int(reference.shape[0]),
        "feature_dim": int(ref_stats[0].shape[0]),
        "criterion": CRITERION,
        "floor": floor.as_dict(),
        "clean": round(score(pick[0]), 4),
        "families": {},
    }
    for family, levels in ladders.items():
        fids = [
            score(
                corrupt_set(
                    *pick, family, level, torch.Generator().manual_seed(seed + 1), pool=train
                )[0]
            )
            for level in levels
        ]
        monotonic = all(a < b for a, b in zip([floor.mean, *fids], fids))
        above = fids[0] > floor.upper
        row: dict[str, Any] = {
            "levels": [_level(v) for v in levels],
            "fid": [round(v, 4) for v in fids],
            "z_mildest": round((fids[0] - floor.mean) / floor.sd, 2) if floor.sd > 0 else None,
            "monotonic": monotonic,
            "above_floor": above,
            "pass": monotonic and above,
        }
        if others:
            again = [
                score(
                    corrupt_set(
                        *other,
                        family,
                        levels[0],
                        torch.Generator().manual_seed(seed + 1 + r),
                        pool=train,
                    )[0]
                )
                for r, other in enumerate(others, start=1)
            ]
            row["repeats_mildest"] = [round(v, 4) for v in again]
            row["robust"] = above and all(v > floor.upper for v in again)
        report["families"][family] = row
    report["passed"] = all(r["pass"] for r in report["families"].values())
    return report


def _level(v: float) -> float | str:
    return "inf" if v == float("inf") else v


def validate_features(
    features: str = DEFAULT_FEATURES,
    *,
    n: int = 1000,
    families: dict[str, tuple[float, ...]] | None = None,
    floor_draws: int = 25,
    repeats: int = 0,
    seed: int = 0,
    source: str = "auto",
) -> dict[str, Any]:
    """The sensitivity suite of a named feature checkpoint on the training and held-out splits.

    Args:
        features: the features' name, e.g. ``"mnist-style-features"`` or ``"mnist-features"``.
        n, families, floor_draws, repeats, seed: see :func:`sensitivity_suite`.
        source: the MNIST source (see :func:`~ddpm_tutorial.data.mnist.load_mnist`).

    Returns:
        :func:`sensitivity_suite`'s report with ``features`` added; print it with
        :func:`sensitivity_table`.
    """
    train = load_mnist("train", source=source, verbose=False)
    held_out = load_mnist("test", source=source, verbose=False)
    report = sensitivity_suite(
        features,
        (train.images, train.labels),
        held_out.images,
        n=n,
        families=families,
        floor_draws=floor_draws,
        repeats=repeats,
        seed=seed,
    )
    return {"features": features, **report}


def sensitivity_table(report: dict[str, Any]) -> str:
    """A suite's report as a Markdown table: one row per family.

    Args:
        report: what :func:`sensitivity_suite` (or :func:`validate_features`) returned.

    Returns:
        The table: family, levels, FID per level, floor at n (mean +- sd), mildest, strongest,
        z of the mildest, pass (and robust, with repeats).
    """
    fl = report["floor"]
    robust = any("robust" in r for r in report["families"].values())
    head = "| family | levels | FID per level | floor at n | mildest | strongest | z | pass |"
    rule = "|---|---|---|---|---|---|---|---|"
    if robust:
        head, rule = head + " robust |", rule + "---|"
    lines = [
        f"n = {report['n']} vs {report['num_reference']} reference digits, "
        f"{report['feature_dim']} features; floor {fl['mean']:.3g} +- {fl['sd']:.2g} "
        f"(upper {fl['upper']:.3g}, {fl['draws']} draws); clean pick {report['clean']:.3g}",
        "",
        head,
        rule,
    ]
    for family, r in report["families"].items():
        cells = [
            family,
            ", ".join(str(v) for v in r["levels"]),
            ", ".join(f"{v:.3g}" for v in r["fid"]),
            f"{fl['mean']:.3g} +- {fl['sd']:.2g}",
            f"{r['fid'][0]:.3g}",
            f"{r['fid'][-1]:.3g}",
            "-" if r["z_mildest"] is None else f"{r['z_mildest']:.1f}",
            "yes" if r["pass"] else "NO",
        ]
        if robust:
            cells.append("yes" if r.get("robust") else "NO")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------ the book's first check
#: the corruption strengths of :func:`fid_validation`
VALIDATION_STRENGTHS: dict[str, tuple[float, ...]] = {
    "blur": (0.5, 1.0, 1.5, 2.0),
    "noise": (0.1, 0.2, 0.4, 0.8),
    "shuffle": (0.05, 0.1, 0.2, 0.4),
}


def fid_validation(
    extractor: FeatureExtractor | str,
    real: Tensor,
    reference: Tensor,
    *,
    num_images: int = 1000,
    strengths: dict[str, tuple[float, ...]] | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Check an extractor's FID: real digits near zero, corrupted digits worse, monotonically.

    Args:
        extractor: a feature extractor or its name.
        real: real digits not in the reference (e.g. the training split), (N, 1, 28, 28).
        reference: the reference digits (the held-out split).
        num_images: how many of ``real`` to score (the same number for every corruption).
        strengths: corruption -> increasing strengths (default ``VALIDATION_STRENGTHS``).

    Returns:
        ``real`` (FID of clean real digits), one ``{strength: FID}`` table per corruption,
        ``monotonic`` (True when every table rises with the strength and starts above
        ``real``) and the image counts.
    """
    g = torch.Generator().manual_seed(seed)
    pick = real[torch.randperm(real.shape[0], generator=g)[:num_images]]
    mu_r, sigma_r = gaussian_statistics(extract_features(reference, extractor))

    def score(images: Tensor) -> float:
        mu, sigma = gaussian_statistics(extract_features(images, extractor))
        return round(frechet_distance(mu, sigma, mu_r, sigma_r), 3)

    clean = score(pick)
    out: dict[str, object] = {
        "num_images": int(pick.shape[0]),
        "num_reference": int(reference.shape[0]),
        "real": clean,
    }
    monotonic = True
    for kind, levels in (strengths or VALIDATION_STRENGTHS).items():
        table = {str(s): score(corrupt_images(pick, kind, s, g)) for s in levels}
        values = [clean, *table.values()]
        monotonic &= all(a < b for a, b in zip(values, values[1:]))
        out[kind] = table
    out["monotonic"] = monotonic
    return out
