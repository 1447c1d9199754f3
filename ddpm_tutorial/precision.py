"""Mixed precision: which number format a training step computes in, and how it is switched on.

A training step spends most of its time in convolutions (about 75% of a CPU step for the book's
UNet, forward and backward). Running them in bfloat16 (8 exponent bits like float32, 7 mantissa
bits instead of 23) halves the bytes moved and, on a processor with bfloat16 instructions
(AVX512-BF16 or AMX on x86, any recent NVIDIA GPU), roughly doubles the arithmetic per cycle.
:func:`torch.autocast` does this per operation: matrix products and convolutions run in
bfloat16, the loss is computed in float32 (``noise_prediction_loss`` casts to it), and the
weights, their gradients and the optimizer state stay float32 throughout (Micikevicius et al. 2018,
"Mixed precision training"; bfloat16 needs no loss scaling because its range is float32's).

``precision`` is one of:

* ``"fp32"``: everything in float32 (on a CPU, convolutions in the channels-last layout that
  oneDNN prefers);
* ``"bf16"``: bfloat16 autocast, wherever it is asked for;
* ``"auto"`` (the default): bfloat16 where the hardware runs it natively (a CUDA GPU that
  supports it, a CPU with AVX512-BF16 or AMX), float32 elsewhere (older CPUs emulate bfloat16
  and would be slower, and Apple's MPS backend is left in float32).

``benchmarks/run.py --only train`` measures what each choice buys on the machine at hand.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = [
    "PRECISIONS",
    "cpu_has_native_bf16",
    "resolve_precision",
    "autocast",
    "uses_channels_last",
]

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (x86 AVX512-BF16 or AMX tiles)."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(cpu, probe, None)
        if fn is not None:
            try:
                if fn():
                    return True
            except RuntimeError:  # pragma: no cover - a build without the probe's kernels
                continue
    return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``"fp32"`` or ``"bf16"``: what ``precision`` means on ``device``.

    Raises:
        ValueError: for a name not in :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    kind = torch.device(device).type
    if kind == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if kind == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


def uses_channels_last(precision: str, device: torch.device | str) -> bool:
    """Whether training should keep 4-D tensors channels-last: on a CPU, in float32.

    oneDNN's float32 convolutions made a training step of the book's UNet 1.09x to 1.34x faster
    channels-last (benchmarks/README.md); under
    bfloat16 autocast the layout conversions cost more than they save, so it stays off there.
    """
    return torch.device(device).type == "cpu" and resolve_precision(precision, device) == "fp32"


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[str]:
    """Run the block under ``precision`` on ``device``; yields the resolved name.

    Weights stay float32; inside, autocast picks bfloat16 for matrix products and convolutions.
    """
    resolved = resolve_precision(precision, device)
    kind = torch.device(device).type
    if resolved == "bf16":
        with torch.autocast(kind, dtype=torch.bfloat16):
            yield resolved
    else:
        yield resolved
