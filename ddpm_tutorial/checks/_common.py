"""The one convention every checker follows, written once (private: not re-exported).

A checker

1. calls the reader's function with :func:`call_reader`: an exception of the reader's code
   becomes an ``AssertionError`` that names it, and the usual broadcasting error of a missing
   reshape is explained in one sentence;
2. turns what the function returned into a float64 CPU tensor with :func:`as_tensor` (or
   :func:`as_scalar` for a single number);
3. compares it with the reference with :func:`compare`, giving the known mistakes as a list of
   ``(wrong_result, sentence)`` pairs (:data:`Mistake`): on a mismatch it raises an
   ``AssertionError`` that says what differs and by how much, followed by the sentence of
   every known mistake whose result the reader's equals;
4. raises any other failure with :func:`fail`, and ends with :func:`passed`.

Every message is one line that starts with ``<name> failed:``; success prints
``<name> passed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import torch
from torch import Tensor

RTOL, ATOL = 1e-5, 1e-6
"""The default tolerances of :func:`compare` and :func:`close`."""

Mistake = tuple[Tensor | float, str]
"""A known mistake: the result it gives on the checker's input, and a full sentence naming it."""


class StandInMisuse(AssertionError):
    """Raised by a checker's stand-in (a recording model) that the reader's code calls wrongly.

    :func:`call_reader` reports its sentence as it is, after ``<name> failed:``.
    """


# ---------------------------------------------------------------------------- outcomes
def passed(name: str) -> None:
    """Print ``<name> passed``, the last thing a checker does when all went well."""
    print(f"{name} passed")


def fail(name: str, message: str) -> NoReturn:
    """Raise ``AssertionError("<name> failed: <message>")``."""
    raise AssertionError(f"{name} failed: {message}")


# ---------------------------------------------------------------------------- calling the reader
_BROADCAST = re.compile(
    r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) "
    r"at non-singleton dimension (\d+)"
)


def _missing_reshape(err: Exception, args: tuple[Any, ...]) -> str | None:
    """The sentence for a per-example value of shape (B,) that met a batch (B, ...), or None.

    A (B,) tensor times a batch (B, C, H, W) lines its B up with the batch's *last* axis, so
    PyTorch complains about sizes B and W at the last dimension; that is what is recognised.
    The batch is the first tensor argument with two or more dimensions.
    """
    match = _BROADCAST.search(str(err))
    batch = next((a for a in args if isinstance(a, Tensor) and a.ndim >= 2), None)
    if match is None or batch is None:
        return None
    B, last = batch.shape[0], batch.shape[-1]
    sizes, dim = {int(match[1]), int(match[2])}, int(match[3])
    if sizes != {B, last} or dim != batch.ndim - 1:
        return None
    ones = ", ".join(["1"] * (batch.ndim - 1))
    kind = "an image batch" if batch.ndim == 4 else "a batch"
    return (
        f"a per-example value of shape (B,) = ({B},) must be reshaped to (B, {ones}) before it "
        f"multiplies {kind} of shape {tuple(batch.shape)}: use .reshape(-1, {ones}) "
        f"(PyTorch said: {match[0]})"
    )


def call_reader(name: str, candidate: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the reader's function; turn any exception it raises into a readable AssertionError.

    Args:
        name: the checker's name, which starts the message.
        candidate: the reader's function.
        *args: its positional arguments; the first tensor of two or more dimensions is taken
            as the batch (B, ...) when a broadcasting error is explained.
        **kwargs: its keyword arguments.

    Returns:
        Whatever ``candidate`` returned.
    """
    try:
        return candidate(*args, **kwargs)
    except StandInMisuse as err:
        fail(name, str(err))
    except Exception as err:  # noqa: BLE001 - any error of the reader's code is reported
        sentence = _missing_reshape(err, args)
        if sentence is None:
            sentence = f"calling your function raised {type(err).__name__}: {err}"
        raise AssertionError(f"{name} failed: {sentence}") from err


# ---------------------------------------------------------------------------- results as tensors
def as_tensor(name: str, value: Any, what: str, *, first_of_tuple: bool = False) -> Tensor:
    """The reader's result as a float64 CPU tensor of its own shape, or an AssertionError.

    Args:
        name: the checker's name.
        value: what the reader's function returned: a tensor, or anything
            ``torch.as_tensor`` takes (a number, a list of numbers).
        what: what the value is, for the message ("x_t", "the loss").
        first_of_tuple: accept a tuple or list whose first item is a tensor and use that item
            (a step function returns ``(x_prev, x0_pred)``).
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
    except (TypeError, ValueError, RuntimeError):
        fail(name, f"{what} must be a tensor; got {type(value).__name__}")


def as_scalar(name: str, value: Any, what: str) -> Tensor:
    """The reader's single number (a Python number or a one-element tensor) as a 0-d tensor."""
    try:
        out = as_tensor(name, value, what)
    except AssertionError:
        fail(name, f"{what} must be a number; got {type(value).__name__}")
    if out.numel() != 1:
        fail(name, f"{what} must be a single number (a scalar); got shape {tuple(out.shape)}")
    return out.reshape(())


# ---------------------------------------------------------------------------- comparison
def close(a: Tensor, b: Tensor, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Same shape and ``allclose`` in float64 (NaNs are never close to anything)."""
    return a.shape == b.shape and bool(
        torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol, equal_nan=False)
    )


def _difference(actual: Tensor, expected: Tensor, what: str, reference: str) -> str:
    """A sentence fragment saying how ``actual`` differs from ``expected``."""
    if actual.shape != expected.shape:
        return f"{what} has shape {tuple(actual.shape)}; expected {tuple(expected.shape)}"
    if actual.numel() == 1:
        return f"{what} is {float(actual):.6g}; {reference} gives {float(expected):.6g}"
    gap = (actual.double() - expected.double()).abs().nan_to_num(float("inf")).flatten()
    i = int(gap.argmax())
    index = [int(k) for k in torch.unravel_index(torch.tensor(i), actual.shape)]
    at = index[0] if len(index) == 1 else tuple(index)
    return (
        f"{what} differs from {reference} by up to {float(gap[i]):.3g} (at index {at}: yours "
        f"{float(actual.flatten()[i]):.6g}, expected {float(expected.flatten()[i]):.6g})"
    )


def compare(
    name: str,
    actual: Tensor,
    expected: Tensor,
    what: str,
    *,
    mistakes: Sequence[Mistake] = (),
    reference: str = "the reference",
    hint: str = "",
    rtol: float = RTOL,
    atol: float = ATOL,
) -> None:
    """Return if ``actual`` is close to ``expected``; else raise a one-line AssertionError.

    The message is ``<name> failed: <what> differs from <reference> by up to <d> (at index
    ...: yours ..., expected ...).`` (or names the shapes, or the two numbers of a scalar),
    followed by the sentence of every mistake in ``mistakes`` whose result ``actual`` equals
    within the same tolerance, or by ``hint`` when none does.

    Args:
        name: the checker's name.
        actual: the reader's result, any shape (from :func:`as_tensor` or :func:`as_scalar`).
        expected: the reference result; ``actual`` must have its shape.
        what: what is compared ("x_t", "at step 4, your x_{t-1}").
        mistakes: ``(wrong_result, sentence)`` pairs; a float stands for a 0-d tensor.
        reference: what ``expected`` is, for the message (a formula, say).
        hint: a sentence for when no known mistake matches.
        rtol: relative tolerance.
        atol: absolute tolerance.
    """
    if close(actual, expected, rtol, atol):
        return
    found: list[str] = []
    for wrong, sentence in mistakes:
        wrong_t = torch.as_tensor(wrong, dtype=torch.float64)
        if sentence not in found and close(actual, wrong_t, rtol, atol):
            found.append(sentence)
    explanation = " ".join(found) or hint
    tail = f" {explanation}" if explanation else ""
    fail(name, _difference(actual, expected, what, reference) + "." + tail)
