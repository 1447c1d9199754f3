"""Rows rank only where intervals separate; the default the measurements choose (ranking)."""

from __future__ import annotations

import pytest

from ddpm_tutorial.experiments.ranking import (
    compare_rows,
    fewest_calls_default,
    ranking,
    recommend_default,
    rerank,
)


def _row(w, fid, acc, cov=(0.9, 0.88, 0.92), clip=None):
    """A row with FID, accuracy and coverage as (value, low, high)."""
    m = lambda v: {"value": v[0], "interval": [v[1], v[2]], "n": 500}  # noqa: E731
    sampling = {"guidance_scale": w, **({"clip_x0": clip} if clip is not None else {})}
    return {
        "sampling": sampling,
        "fid": m(fid),
        "prompted_digit_accuracy": m(acc),
        "coverage": m(cov),
    }


def test_separated_intervals_rank_and_overlapping_ones_tie():
    a, b, c = (
        _row(1, (2, 1.5, 2.5), (0.9, 0.85, 0.93)),
        _row(2, (3, 2.6, 3.4), (0.99, 0.97, 1.0)),
        _row(3, (2.4, 2.0, 2.8), (0.98, 0.96, 0.99)),
    )
    assert compare_rows(a, b, "fid") == -1 and compare_rows(b, a, "fid") == 1
    assert compare_rows(a, c, "fid") == 0
    assert compare_rows(b, a, "prompted_digit_accuracy") == -1  # higher accuracy is better
    table = ranking([a, b, c], ["a", "b", "c"])
    assert table["fid"]["best"] == "a" and table["fid"]["ties_with_best"] == ["a", "c"]
    assert table["fid"]["rank"] == {"a": 1, "b": 2, "c": 1}
    assert table["prompted_digit_accuracy"]["rank"] == {"a": 3, "b": 1, "c": 1}  # both beat a
    with pytest.raises(ValueError, match="density"):
        compare_rows(a, b, "density")


def test_the_default_keeps_the_current_scale_where_it_ties_else_takes_the_smallest():
    rows = [
        _row(1, (2.0, 1.5, 2.5), (0.85, 0.80, 0.90)),  # accuracy below the best
        _row(2, (2.2, 1.8, 2.6), (0.98, 0.96, 0.99)),
        _row(3, (2.3, 1.9, 2.7), (0.99, 0.975, 0.995)),
        _row(8, (5.0, 4.5, 5.5), (0.99, 0.975, 0.995)),  # FID worse than w = 1's
    ]
    labels = ["w=1", "w=2", "w=3", "w=8"]
    kept = recommend_default(rows, labels, {"guidance_scale": 3, "steps": 50})
    assert kept["label"] == "w=3" and kept["candidates"] == ["w=2", "w=3"]
    assert "current setting" in kept["rule"] and "w=3" in kept["why"]
    moved = recommend_default(rows, labels, {"guidance_scale": 8})
    assert moved["label"] == "w=2" and moved["sampling"]["guidance_scale"] == 2
    assert "smallest guidance scale" in moved["rule"]


def test_among_tied_rows_at_one_scale_the_default_keeps_the_current_setting():
    rows = [
        _row(3, (2.0, 1.5, 2.5), (0.99, 0.97, 1.0), clip=False),
        _row(3, (2.1, 1.6, 2.6), (0.99, 0.97, 1.0), clip=True),
    ]
    current = {"guidance_scale": 3.0, "clip_x0": True}
    assert recommend_default(rows, ["off", "on"], current)["label"] == "on"
    assert recommend_default(rows, ["off", "on"], {**current, "clip_x0": False})["label"] == "off"


def test_coverage_decides_between_rows_whose_fid_ties_before_accuracy_or_scale_do():
    rows = [
        _row(2, (2.0, 1.8, 2.2), (0.99, 0.98, 1.0), cov=(0.80, 0.78, 0.82)),
        _row(3, (2.1, 1.9, 2.3), (0.99, 0.98, 1.0), cov=(0.90, 0.88, 0.92)),
        _row(5, (4.0, 3.8, 4.2), (0.99, 0.98, 1.0), cov=(0.95, 0.93, 0.97)),  # FID worse
    ]
    choice = recommend_default(rows, ["w=2", "w=3", "w=5"], {"guidance_scale": 2})
    assert choice["label"] == "w=3" and choice["candidates"] == ["w=3"]


def test_an_unconditional_sweep_ranks_on_fid_and_coverage_alone():
    rows = [
        {
            k: v
            for k, v in _row(1, (9.0, 8.0, 10.0), (0, 0, 0), clip=False).items()
            if k != "prompted_digit_accuracy"
        },
        {
            k: v
            for k, v in _row(1, (4.0, 3.5, 4.5), (0, 0, 0), clip=True).items()
            if k != "prompted_digit_accuracy"
        },
    ]
    choice = recommend_default(rows, ["off", "on"], {"clip_x0": False})
    assert choice["label"] == "on" and "accuracy" not in choice["rule"]


def test_rerank_recomputes_the_decisions_and_keeps_the_rows():
    rows = [
        {"label": "w=2", **_row(2, (2.0, 1.8, 2.2), (0.99, 0.98, 1.0), cov=(0.80, 0.78, 0.82))},
        {"label": "w=3", **_row(3, (2.1, 1.9, 2.3), (0.99, 0.98, 1.0), cov=(0.90, 0.88, 0.92))},
    ]
    stale = {
        "experiment": "guidance-tradeoff",
        "current_sampling": {"guidance_scale": 2.0},
        "rows": rows,
        "ranking": {},
        "recommended_default": {"label": "w=2"},
    }
    fresh = rerank(stale)
    assert fresh["rows"] == rows
    assert fresh["recommended_default"]["label"] == "w=3"
    assert fresh["ranking"]["coverage"]["best"] == "w=3"
    assert stale["recommended_default"] == {"label": "w=2"}  # the input is not changed


def _nfe_row(checkpoint, sampler, steps, calls, fid, fid_iv, cov, cov_iv, budget=None):
    return {
        "checkpoint": checkpoint,
        "label": f"sampler={sampler}, steps={steps}",
        "sampling": {"sampler": sampler, "steps": steps},
        "budget": budget or calls,
        "network_calls": calls,
        "n": 1000,
        "fid": {"value": fid, "interval": list(fid_iv), "n": 1000},
        "coverage": {"value": cov, "interval": list(cov_iv), "n": 1000},
    }


def test_fewest_calls_default_takes_the_cheapest_row_that_ties_the_best_on_fid_and_coverage():
    rows = [
        _nfe_row("flow", "heun", 25, 49, 3.7, (2.0, 3.5), 0.81, (0.79, 0.83)),
        _nfe_row("flow", "heun", 5, 9, 4.4, (2.5, 4.4), 0.79, (0.77, 0.82)),
        _nfe_row("flow", "euler", 5, 5, 11.1, (8.8, 11.6), 0.68, (0.65, 0.71)),  # FID apart
        _nfe_row("flow", "euler", 20, 20, 4.8, (2.9, 4.7), 0.77, (0.75, 0.80)),
        _nfe_row("ddpm", "ddim", 2, 2, 3.0, (1.0, 5.0), 0.8, (0.7, 0.9)),  # another model
    ]
    chosen = fewest_calls_default(rows, "flow")
    assert chosen["sampling"] == {"sampler": "heun", "steps": 5} and chosen["network_calls"] == 9
    assert chosen["best"] == "sampler=heun, steps=25" and "n = 1000" in chosen["rule"]
    with pytest.raises(ValueError, match="no rows of 'nope'"):
        fewest_calls_default(rows, "nope")


def test_rerank_recomputes_a_samplers_table_per_budget_and_per_checkpoint():
    rows = [
        _nfe_row("flow", "euler", 5, 5, 11.1, (8.8, 11.6), 0.68, (0.65, 0.71)),
        _nfe_row("ddpm", "ddim", 5, 5, 92.0, (78.0, 104.0), 0.33, (0.30, 0.36)),
    ]
    out = rerank({"experiment": "samplers-nfe", "rows": rows})
    assert out["ranking_per_budget"]["5"]["fid"]["best"] == "flow: sampler=euler, steps=5"
    assert set(out["recommended_defaults"]) == {"flow", "ddpm"}
