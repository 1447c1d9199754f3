"""Which setting is better, which tie, and which default the measurements choose.

Two rows of an experiment rank on a measure only when their 95% intervals separate
(:func:`~ddpm_tutorial.metrics.intervals.compare_scores`); otherwise they tie. Lower is
better for FID and KID; higher for precision, recall, coverage, the CLIP score and the
prompted-digit accuracy. Density is not ranked: about 1 is what real digits score, and more is
not better.

:func:`ranking` gives, per measure, the best row, the rows that tie with it, and each row's
rank (1 + the number of rows that beat it). :func:`recommend_default` applies the book's rule
for a sampling default, realism and diversity first, because they are what guidance and
clipping can quietly spend:

1. keep the rows whose FID ties the lowest; of those, the rows whose coverage ties the highest
   among them (nothing measurable is lost in realism or diversity);
2. of those, for a text-to-image model, keep the rows whose prompted-digit accuracy ties the
   best among them (the model draws what it is asked for as well as it can);
3. keep the card's current setting if it is still there (no change without a measured
   reason); otherwise take the smallest guidance scale, then the row that changes the fewest
   of the card's settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..metrics.intervals import Score, compare_scores

__all__ = [
    "LOWER_IS_BETTER",
    "RANKED",
    "compare_rows",
    "fewest_calls_default",
    "rank_per_budget",
    "ranking",
    "recommend_default",
    "rerank",
]

#: the measures ranked, and whether lower is better
RANKED: dict[str, bool] = {
    "fid": True,
    "kid": True,
    "precision": False,
    "recall": False,
    "coverage": False,
    "clip_score": False,
    "prompted_digit_accuracy": False,
}
LOWER_IS_BETTER = {name for name, lower in RANKED.items() if lower}


def _score(row: Mapping[str, Any], measure: str) -> Score:
    m = row[measure]
    low, high = m["interval"]
    return Score(m["value"], low, high, int(m["n"]), None, features=measure)


def compare_rows(a: Mapping[str, Any], b: Mapping[str, Any], measure: str) -> int:
    """-1 if row ``a`` is better than ``b`` on ``measure`` (intervals separate), +1 if worse, 0 tie.

    Args:
        a, b: experiment rows holding ``measure`` as ``{"value", "interval", "n", ...}``.
        measure: one of :data:`RANKED`.
    """
    if measure not in RANKED:
        raise ValueError(f"measure must be one of {', '.join(RANKED)}; got {measure!r}")
    if RANKED[measure]:
        return compare_scores(_score(a, measure), _score(b, measure))
    return compare_scores(_score(b, measure), _score(a, measure))


def _best(rows: Sequence[Mapping[str, Any]], measure: str) -> int:
    values = [r[measure]["value"] for r in rows]
    return values.index(min(values) if RANKED[measure] else max(values))


def ranking(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
    measures: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per measure: the best row, the rows that tie with it, and each row's rank.

    Args:
        rows: experiment rows, all at the same n.
        labels: one name per row (``"w=3, clip_x0"``, a checkpoint's name).
        measures: what to rank (default: every measure of :data:`RANKED` the rows carry).

    Returns:
        ``{measure: {"better", "best", "ties_with_best", "rank"}}``; ``rank[label]`` is 1 + the
        number of rows whose interval lies entirely on the better side of that row's.
    """
    if len(rows) != len(labels):
        raise ValueError(f"{len(rows)} rows but {len(labels)} labels")
    names = measures or [m for m in RANKED if rows and all(m in r for r in rows)]
    out = {}
    for measure in names:
        best = _best(rows, measure)
        out[measure] = {
            "better": "lower" if RANKED[measure] else "higher",
            "best": labels[best],
            "ties_with_best": [
                lab for r, lab in zip(rows, labels) if compare_rows(r, rows[best], measure) == 0
            ],
            "rank": {
                lab: 1 + sum(compare_rows(other, r, measure) == -1 for other in rows)
                for r, lab in zip(rows, labels)
            },
        }
    return out


def _describe(row: Mapping[str, Any], measure: str) -> str:
    m = row[measure]
    return f"{m['value']:g} [{m['interval'][0]:g}, {m['interval'][1]:g}]"


def recommend_default(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
    current: Mapping[str, Any],
) -> dict[str, Any]:
    """The sampling default the measurements choose (the rule of the module docstring).

    Args:
        rows: experiment rows of one generator, each with its ``sampling`` settings.
        labels: one name per row.
        current: the card's sampling settings now (for the last tie-break); only the settings
            that differ between rows are compared with it.

    Returns:
        ``sampling`` (the chosen row's settings), ``label``, ``rule`` (which conditions held)
        and ``why`` (the numbers behind the choice).
    """
    if not rows or len(rows) != len(labels):
        raise ValueError(f"need one label per row and at least one row; got {len(rows)} rows")
    index = list(range(len(rows)))
    best_fid = _best(rows, "fid")
    fid_ok = [i for i in index if compare_rows(rows[i], rows[best_fid], "fid") < 1]
    best_cov = fid_ok[_best([rows[i] for i in fid_ok], "coverage")]
    candidates = [i for i in fid_ok if compare_rows(rows[i], rows[best_cov], "coverage") < 1]
    rule = "FID ties the lowest; coverage ties the highest of those"
    prompted = all("prompted_digit_accuracy" in rows[i] for i in candidates)
    if prompted:
        best_acc = candidates[_best([rows[i] for i in candidates], "prompted_digit_accuracy")]
        candidates = [
            i
            for i in candidates
            if compare_rows(rows[i], rows[best_acc], "prompted_digit_accuracy") < 1
        ]
        rule += "; prompted-digit accuracy ties the best of those"

    # only the settings the rows vary count as changes (a sweep at fewer steps than the card's
    # changes no default)
    keys = {k for r in rows for k in r["sampling"]}
    swept = [k for k in sorted(keys) if len({repr(r["sampling"].get(k)) for r in rows}) > 1]

    def changes(i: int) -> int:
        return sum(current.get(k) != rows[i]["sampling"].get(k) for k in swept)

    kept = [i for i in candidates if changes(i) == 0]
    if kept:
        choice, rule = kept[0], rule + "; the card's current setting is among them"
    else:
        choice = min(
            candidates,
            key=lambda i: (rows[i]["sampling"].get("guidance_scale", 1.0), changes(i), i),
        )
        rule += "; the smallest guidance scale among them, then the fewest changes"
    why = [f"chosen {labels[choice]}: FID {_describe(rows[choice], 'fid')}"]
    why.append(f"coverage {_describe(rows[choice], 'coverage')}")
    if prompted:
        why.append(f"accuracy {_describe(rows[choice], 'prompted_digit_accuracy')}")
    why.append(f"lowest FID {labels[best_fid]} {_describe(rows[best_fid], 'fid')}")
    why.append(
        f"highest coverage of the rows that tie it {labels[best_cov]} "
        f"{_describe(rows[best_cov], 'coverage')}"
    )
    if prompted:
        why.append(
            f"best accuracy of the rows that tie both {labels[best_acc]} "
            f"{_describe(rows[best_acc], 'prompted_digit_accuracy')}"
        )
    return {
        "sampling": dict(rows[choice]["sampling"]),
        "label": labels[choice],
        "rule": rule,
        "candidates": [labels[i] for i in candidates],
        "why": "; ".join(why),
    }


def rank_per_budget(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per budget of calls: the rows at that budget ranked by FID and coverage (ties kept)."""
    out: dict[str, Any] = {}
    for budget in sorted({r["budget"] for r in rows}):
        group = [r for r in rows if r["budget"] == budget]
        labels = [f"{r['checkpoint']}: {r['label']}" for r in group]
        out[str(budget)] = ranking(group, labels, ["fid", "coverage"])
    return out


def _ties(a: dict[str, Any], b: dict[str, Any], measure: str) -> bool:
    """Do the 95% intervals of two rows' ``measure`` overlap?"""
    (lo_a, hi_a), (lo_b, hi_b) = a[measure]["interval"], b[measure]["interval"]
    return lo_a <= hi_b and lo_b <= hi_a


def fewest_calls_default(rows: Sequence[dict[str, Any]], checkpoint: str) -> dict[str, Any]:
    """A checkpoint's sampling default: the fewest calls that tie its best row on FID and coverage.

    The best row has the lowest FID of the checkpoint's rows (the highest coverage breaks a tie
    of values); a row ties it on a measure when their 95% intervals overlap. Of the rows that
    tie it on both FID and coverage, the one with the fewest network calls is chosen (the
    lower FID breaks a tie of calls). Settings of other checkpoints are not compared.

    Returns:
        ``sampling`` (``sampler`` and ``steps``), ``network_calls``, ``label``, ``best`` (the
        best row's label) and ``rule`` (this rule in one sentence, with the numbers).
    """
    mine = [r for r in rows if r["checkpoint"] == checkpoint]
    if not mine:
        raise ValueError(f"no rows of {checkpoint!r}")
    best = min(mine, key=lambda r: (r["fid"]["value"], -r["coverage"]["value"]))
    tied = [r for r in mine if _ties(r, best, "fid") and _ties(r, best, "coverage")]
    chosen = min(tied, key=lambda r: (r["network_calls"], r["fid"]["value"]))

    def describe(r: dict[str, Any]) -> str:
        fid, cov = r["fid"], r["coverage"]
        return (
            f"{r['label']} ({r['network_calls']} calls): FID {fid['value']:.2f} "
            f"[{fid['interval'][0]:.2f}, {fid['interval'][1]:.2f}], coverage "
            f"{cov['value']:.3f} [{cov['interval'][0]:.3f}, {cov['interval'][1]:.3f}]"
        )

    return {
        "sampling": {k: chosen["sampling"][k] for k in ("sampler", "steps")},
        "network_calls": chosen["network_calls"],
        "label": chosen["label"],
        "best": best["label"],
        "rule": f"the fewest network calls whose FID and coverage intervals both overlap those "
        f"of the best row, {describe(best)}: {describe(chosen)} (n = {chosen['n']})",
    }


def rerank(experiment: Mapping[str, Any]) -> dict[str, Any]:
    """An experiment's rankings and recommended defaults, computed again from its rows.

    The rows (what was sampled and measured) are kept as they are; ``ranking``,
    ``ranking_by_scale``, ``per_checkpoint`` and ``recommended_default`` are recomputed by this
    module's rules, as the experiment's own function computes them. For a table measured
    before a change of the rule.

    Args:
        experiment: the JSON of ``python -m ddpm_tutorial experiment NAME``.

    Returns:
        A new dict: the experiment with its decisions recomputed.
    """
    out = dict(experiment)
    rows = list(experiment["rows"])
    kind = experiment.get("experiment")
    if kind == "encoder-vs-denoiser":
        per = {}
        for name, old in experiment["per_checkpoint"].items():
            mine = [r for r in rows if r["checkpoint"] == name]
            labels = [r["label"] for r in mine]
            current = old["current_sampling"]
            per[name] = {
                "current_sampling": current,
                "ranking": ranking(mine, labels),
                "recommended_default": recommend_default(mine, labels, current),
            }
        out["per_checkpoint"] = per
        by_setting = {}
        for label in dict.fromkeys(r["label"] for r in rows):
            same = [r for r in rows if r["label"] == label]
            by_setting[label] = ranking(same, [r["checkpoint"] for r in same])
        out["ranking"] = by_setting
        return out
    if kind == "samplers-nfe":
        out["ranking_per_budget"] = rank_per_budget(rows)
        out["recommended_defaults"] = {
            name: fewest_calls_default(rows, name)
            for name in dict.fromkeys(r["checkpoint"] for r in rows)
        }
        return out
    key = next(k for k in ("label", "model", "prior") if k in rows[0])
    labels = [r[key] for r in rows]
    out["ranking"] = ranking(rows, labels)
    if "ranking_by_scale" in experiment:
        by_scale = {}
        for scale in dict.fromkeys(r["sampling"]["guidance_scale"] for r in rows):
            same = [r for r in rows if r["sampling"]["guidance_scale"] == scale]
            by_scale[f"w={scale:g}"] = ranking(same, [r[key] for r in same])
        out["ranking_by_scale"] = by_scale
    if "recommended_default" in experiment:
        out["recommended_default"] = recommend_default(rows, labels, experiment["current_sampling"])
    return out
