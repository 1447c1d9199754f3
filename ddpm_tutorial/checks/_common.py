"""Comparison helpers shared by the checker modules (private: not re-exported)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def as_tensor(value: Any, what: str, *, first_of_tuple: bool = False) -> Tensor:
    """A reader's result as a float64 CPU tensor, or an AssertionError naming what it was.

    With ``first_of_tuple``, a tuple or list whose first item is a tensor gives that item (a
    step function returns ``(x_prev, x0_pred)``).
    """
    if (
        first_of_tuple
        and isinstance(value, (tuple, list))
        and value
        and isinstance(value[0], Tensor)
    ):
        value = value[0]
    if isinstance(value, Tensor):
        return value.detach().cpu().double()
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise AssertionError(f"{what} must be a tensor; got {type(value).__name__}") from err


def close(a: Tensor, b: Tensor, rtol: float, atol: float) -> bool:
    """Same shape and allclose (NaNs never equal)."""
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))


def max_diff(a: Tensor, b: Tensor) -> str:
    """A sentence fragment saying how far apart two results are."""
    if a.shape != b.shape:
        return f"the shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}"
    return f"the largest difference is {float((a - b).abs().nan_to_num(float('inf')).max()):.3g}"


def diagnose(actual: Tensor, mistakes: list[tuple[Tensor, str]], rtol: float, atol: float) -> str:
    """The sentences of every known mistake whose result equals ``actual``, or ''."""
    found = [sentence for wrong, sentence in mistakes if close(actual, wrong.double(), rtol, atol)]
    return "".join(" " + sentence for sentence in found)


def call_reader(name: str, candidate: Callable[..., Any], *args: Any) -> Any:
    """Call the reader's function; turn any exception into a readable AssertionError."""
    try:
        return candidate(*args)
    except Exception as err:  # noqa: BLE001 - any error of the reader's code is reported
        raise AssertionError(
            f"{name} failed: calling your function raised {type(err).__name__}: {err}"
        ) from err
