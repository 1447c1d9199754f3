"""Mixed precision: which number format a training step computes in, and how it is switched on.

A training step spends most of its time in convolutions (70% of a bf16 step of the book's UNet,
forward and backward, profiled on a 2-core AMD EPYC; benchmarks/README.md). Running them in a 16-bit float halves the bytes moved and, on a
processor with 16-bit arithmetic units, multiplies the arithmetic per cycle. :func:`torch.autocast`
does this per operation: matrix products and convolutions run in 16 bits, the loss is computed
in float32 (the training loop casts to it), and the weights, their gradients and the optimizer
state stay float32 throughout (Micikevicius et al. 2018, "Mixed precision training").

Two 16-bit formats, one trade each:

* bfloat16 keeps float32's 8 exponent bits (its range) and 7 mantissa bits: no gradient
  underflows that float32 would not, so it needs no loss scaling;
* float16 has 5 exponent bits and 10 mantissa bits: more precise, but small gradients flush to
  zero, so the loss is multiplied by a large factor before the backward pass and the gradients
  divided by it afterwards (loss scaling, Micikevicius et al. 2018, sec. 3.2).
  :func:`grad_scaler` returns PyTorch's dynamic loss scaler for it: a step whose scaled
  gradients overflow is skipped and the factor halved.

``precision`` is one of:

* ``"fp32"``: everything in float32 (on a CPU, convolutions in the channels-last layout that
  oneDNN prefers);
* ``"bf16"``: bfloat16 autocast, wherever it is asked for;
* ``"fp16"``: float16 autocast with a gradient scaler, wherever it is asked for;
* ``"auto"`` (the default): what the hardware runs natively (:func:`resolve_precision`):

  =====================================  ==================================================
  device                                 ``"auto"``
  =====================================  ==================================================
  CUDA, compute capability 8.0 and up    bf16 (Ampere and later: bfloat16 tensor cores)
  CUDA, compute capability 7.x           fp16 with a gradient scaler (Colab's T4 is 7.5)
  CUDA below 7.0                         fp32 (no tensor cores)
  a CPU with AVX512-BF16 or AMX          bf16
  any other CPU, Apple's MPS             fp32
  =====================================  ==================================================

  ``torch.cuda.is_bf16_supported()`` is not the test: it counts emulated bfloat16 and answers
  True on a T4, whose tensor cores have float16 but not bfloat16.

``benchmarks/run.py --only train`` measures what each choice buys on the machine at hand.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = [
    "PRECISIONS",
    "autocast",
    "cpu_has_native_bf16",
    "grad_scaler",
    "resolve_precision",
    "uses_channels_last",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: compute capability from which a CUDA GPU has bfloat16 tensor cores (Ampere)
BF16_CAPABILITY = (8, 0)
#: compute capability from which a CUDA GPU has float16 tensor cores (Volta)
FP16_CAPABILITY = (7, 0)
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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
    """``"fp32"``, ``"bf16"`` or ``"fp16"``: what ``precision`` means on ``device``.

    An explicit name means itself; ``"auto"`` follows the table in the module's docstring
    (a CUDA GPU by its compute capability, a CPU by its bfloat16 instructions).

    Raises:
        ValueError: for a name not in :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        capability = tuple(torch.cuda.get_device_capability(device))
        if capability >= BF16_CAPABILITY:
            return "bf16"
        return "fp16" if capability >= FP16_CAPABILITY else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


def uses_channels_last(precision: str, device: torch.device | str) -> bool:
    """Whether training should keep 4-D tensors channels-last: on a CPU, in float32.

    oneDNN's float32 convolutions made a training step of the book's UNet 1.09x to 1.34x faster
    channels-last (benchmarks/README.md); under
    bfloat16 autocast the layout conversions cost more than they save, so it stays off there.
    """
    return torch.device(device).type == "cpu" and resolve_precision(precision, device) == "fp32"


def grad_scaler(precision: str, device: torch.device | str) -> torch.amp.GradScaler | None:
    """The dynamic loss scaler that float16 training needs, or None for fp32 and bf16.

    Used as ``scaler.scale(loss).backward()``, ``scaler.unscale_(optimizer)`` (before clipping
    the gradient norm), ``scaler.step(optimizer)``, ``scaler.update()``: the loss is multiplied
    by the scale (2**16 at first) so that small float16 gradients do not flush to zero; a step
    whose gradients overflow is skipped and the scale halved; after 2000 steps without
    overflow the scale doubles (PyTorch's defaults).
    """
    if resolve_precision(precision, device) != "fp16":
        return None
    return torch.amp.GradScaler(torch.device(device).type)


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[str]:
    """Run the block under ``precision`` on ``device``; yields the resolved name.

    Weights stay float32; inside, autocast runs matrix products and convolutions in bfloat16
    or float16 (PyTorch keeps the operations that need float32's range, such as softmax, in
    float32). float16 sampling needs no scaler: there is no backward pass to underflow.
    """
    resolved = resolve_precision(precision, device)
    if resolved in _DTYPES:
        with torch.autocast(torch.device(device).type, dtype=_DTYPES[resolved]):
            yield resolved
    else:
        yield resolved
