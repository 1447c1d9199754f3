"""Quality against network calls: every sampler of a checkpoint at a few budgets of calls.

The table of Part V's samplers chapter and of the flow-matching chapter. One row per
(checkpoint, sampler, steps), all drawn from the same noise seeds and scored the same way
(:func:`~ddpm_tutorial.experiments.scoring.score_samples`: FID with its bootstrap interval and
the real-vs-real floor at n, KID, precision, recall, density, coverage and the digit judge).
A sampler's cost is its number of network calls, not its number of steps: Heun's method calls
the network twice per step except the last (``2 N - 1``, Karras et al. 2022, Algorithm 1), the
others once (:func:`network_calls`); a budget of calls gives each sampler the most steps that
fit in it. Each row records its ``network_calls``; per budget,
:func:`~ddpm_tutorial.experiments.ranking.rank_per_budget` says which samplers tie for the best
FID and coverage (intervals separate or they tie), and
:func:`~ddpm_tutorial.experiments.ranking.fewest_calls_default` recommends each checkpoint's
sampling default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..flow_matching import FlowMatching
from ..ode_samplers import network_calls
from .generators import DEFAULT_PROTOCOL, Generator, Protocol, load_generator, sweep
from .ranking import fewest_calls_default, rank_per_budget
from .scoring import load_judges

__all__ = [
    "network_calls",
    "quality_against_calls",
    "sampler_settings",
    "samplers_of",
    "steps_for_calls",
]

#: samplers compared on a noise-predicting checkpoint, and on a flow-matching one
DENOISER_SAMPLERS = ("ddim", "euler", "heun", "dpm-solver++")
FLOW_SAMPLERS = ("euler", "heun")


def steps_for_calls(sampler: str, calls: int) -> int:
    """The most steps of ``sampler`` whose network calls fit in ``calls`` (at least 1)."""
    if calls < 1:
        raise ValueError(f"calls must be >= 1; got {calls}")
    return max(1, (calls + 1) // 2) if sampler == "heun" else calls


def samplers_of(gen: Generator) -> tuple[str, ...]:
    """The samplers compared on a checkpoint: its path decides (flow matching or DDPM)."""
    schedule = getattr(gen, "schedule", None)
    return FLOW_SAMPLERS if isinstance(schedule, FlowMatching) else DENOISER_SAMPLERS


def sampler_settings(samplers: Sequence[str], calls: Sequence[int]) -> list[dict[str, Any]]:
    """One ``{"sampler", "steps"}`` setting per sampler and budget (duplicates dropped)."""
    out: list[dict[str, Any]] = []
    for budget in calls:
        for sampler in samplers:
            s = {"sampler": sampler, "steps": steps_for_calls(sampler, budget)}
            if s not in out:
                out.append(s)
    return out


def quality_against_calls(
    checkpoints: Sequence[str | Generator],
    calls: Sequence[int] = (2, 5, 10, 20, 50),
    *,
    samplers: Sequence[str] | None = None,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """Every sampler of each checkpoint at each budget of network calls, scored alike.

    Args:
        checkpoints: unconditional checkpoints (``mnist-ddpm``, ``mnist-flow``), by name or
            loaded.
        calls: the budgets of network calls.
        samplers: which samplers (default: :func:`samplers_of` each checkpoint).
        protocol: samples per row, seed, bootstrap, where samples are saved.

    Returns:
        ``rows`` (each with ``checkpoint``, ``label``, ``sampling``, ``budget``,
        ``network_calls``, ``seconds`` and the scores), ``ranking_per_budget`` and each
        checkpoint's ``recommended_defaults`` (:func:`fewest_calls_default`).
    """
    judges = load_judges()
    rows = []
    for spec in checkpoints:
        gen = load_generator(spec)
        names = tuple(samplers) if samplers is not None else samplers_of(gen)
        for budget in calls:
            settings = sampler_settings(names, [budget])
            for setting, row in zip(settings, sweep(gen, settings, protocol, judges)):
                n_calls = network_calls(setting["sampler"], setting["steps"])
                rows.append(
                    {"checkpoint": gen.name, "budget": budget, "network_calls": n_calls, **row}
                )
    return {
        "experiment": "samplers-nfe",
        "checkpoints": [r for r in dict.fromkeys(r["checkpoint"] for r in rows)],
        "calls": list(calls),
        "num_samples": protocol.num_samples,
        "prompts": "none (unconditional)",
        "rows": rows,
        "ranking_per_budget": rank_per_budget(rows),
        "recommended_defaults": {
            name: fewest_calls_default(rows, name)
            for name in dict.fromkeys(r["checkpoint"] for r in rows)
        },
    }
