"""Editing measured: DDIM inversion's round trip, SDEdit's strength curve, inpainting.

Every table edits the same n held-out digits (a random subset of ``load_mnist("test")``, fixed
by the seed), which neither the denoisers nor the digit judge (``mnist-classifier``, trained on
the training split only) have seen, with each checkpoint (default ``mnist-ddpm``, DDIM, and
``mnist-flow``, Euler; :mod:`ddpm_tutorial.editing`):

* ``inversion``: the RMSE of ``reconstruct(invert(x))`` against ``x`` per number of steps N
  (2 N network calls), the error of running the deterministic sampler backwards;
* ``sdedit``: per strength, how far the edit strays from its input (RMSE), how often the judge
  still reads the input's digit (``kept_digit``) and reads a digit with confidence above 0.9
  (``confident``), and, for n of at least ``fid_min_samples``, the FID of the edits with its
  interval and floor at n (:func:`~ddpm_tutorial.metrics.intervals.score_fid`). Every strength
  adds the same noise to an image (one draw per image), so the rows differ only in strength;
* ``inpainting``: per mask (the half kept) and RePaint resampling count U, how often the judge
  reads the original digit in the completion, and the RMSE over the generated pixels.

Each per-image mean carries a 95% percentile bootstrap interval over the n images.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..checkpoints import Checkpoint, load_checkpoint
from ..data.mnist import load_mnist
from ..editing import half_mask, img2img, inpaint, inversion_error, sdedit_grid
from ..flow_matching import FlowMatching
from ..metrics.classifier import load_digit_classifier, predict_proba
from ..metrics.intervals import score_fid
from .generators import DEFAULT_PROTOCOL, Protocol
from .scoring import bootstrap_mean

__all__ = ["STRENGTHS", "editing_experiment", "heldout_digits"]

#: SDEdit's strengths by default: the input itself (0), then 0.1 to 1 (plain sampling)
STRENGTHS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))


def heldout_digits(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` held-out digits (n, 1, 28, 28) in [-1, 1] and their labels (n,), a seeded subset."""
    data = load_mnist("test", verbose=False)
    if not 1 <= n <= len(data):
        raise ValueError(f"n must lie in [1, {len(data)}] (the held-out split); got {n}")
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.images[pick], data.labels[pick]


def _mean_row(values: Tensor, resamples: int, seed: int) -> dict[str, Any]:
    """Mean of per-image values (n,) and its percentile bootstrap interval over the images."""
    g = torch.Generator().manual_seed(seed)
    return {
        "value": round(float(values.double().mean()), 4),
        "interval": bootstrap_mean(values, resamples, g),
        "interval_method": "percentile bootstrap over the images",
        "n": int(values.shape[0]),
    }


def _slices(n: int, batch_size: int) -> list[slice]:
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _judged(images: Tensor, labels: Tensor, judge: torch.nn.Module) -> tuple[Tensor, Tensor]:
    """Per image: does the judge read ``labels`` (n,), and with confidence above 0.9 (n,)."""
    probs = predict_proba(judge, images.clamp(-1, 1))
    conf, pred = probs.max(dim=1)
    return (pred == labels).double(), (conf > 0.9).double()


def _editor(name: str) -> Checkpoint:
    ckpt = load_checkpoint(name)
    if ckpt.schedule is None or ckpt.card.get("conditioning", "none") != "none":
        raise ValueError(
            f"{name!r} must be an unconditional denoiser (mnist-ddpm, mnist-flow); it is "
            f"conditioned on {ckpt.card.get('conditioning')!r}"
        )
    if "latent" in ckpt.card:
        raise ValueError(f"{name!r} is a latent model; the editing experiment edits pixels")
    return ckpt


def editing_experiment(
    checkpoints: Sequence[str] = ("mnist-ddpm", "mnist-flow"),
    *,
    inversion_steps: Sequence[int] = (5, 10, 20, 50, 100),
    strengths: Sequence[float] = STRENGTHS,
    steps: int = 50,
    masks: Sequence[str] = ("top", "bottom"),
    resamples: Sequence[int] = (1, 5),
    batch_size: int = 100,
    fid_min_samples: int = 100,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """The three editing tables of each checkpoint on the same held-out digits.

    Args:
        checkpoints: unconditional denoisers of MNIST (a noise predictor or a flow model).
        inversion_steps: the N of each inversion row.
        strengths: SDEdit's strengths, in [0, 1].
        steps: N of the full sampler grid for SDEdit and inpainting.
        masks: the halves kept by the inpainting masks (:func:`~ddpm_tutorial.editing.half_mask`).
        resamples: RePaint's resampling counts U.
        batch_size: images edited at once.
        fid_min_samples: score the FID of the SDEdit rows from this n on (below, ``fid`` is
            None: its floor and bias at small n say little).
        protocol: ``num_samples`` (the n images), ``seed`` (which images, the noise, the
            bootstraps) and ``resamples`` (of every interval).

    Returns:
        ``inversion``, ``sdedit`` and ``inpainting`` rows (each with ``checkpoint``,
        ``sampler``, its settings, ``network_calls`` per image, ``seconds`` and the measures),
        ``inputs`` (what the judge reads in the unedited digits), ``num_images`` and ``seed``.
    """
    n, seed, boot = protocol.num_samples, protocol.seed, protocol.resamples
    x, labels = heldout_digits(n, seed)
    judge = load_digit_classifier()
    kept_in, confident_in = _judged(x, labels, judge)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    inversion, sdedit, inpainting = [], [], []
    for name in checkpoints:
        ckpt = _editor(name)
        model, path = ckpt.model, ckpt.schedule
        assert path is not None
        flow = isinstance(path, FlowMatching)
        common = {"checkpoint": ckpt.name, "sampler": "euler" if flow else "ddim"}
        for N in inversion_steps:
            start = time.perf_counter()
            err = torch.cat(
                [inversion_error(model, path, x[s], num_steps=N) for s in _slices(n, batch_size)]
            )
            inversion.append(
                {
                    **common,
                    "steps": N,
                    "network_calls": 2 * N,
                    "seconds": round(time.perf_counter() - start, 1),
                    "rmse": _mean_row(err, boot, seed),
                }
            )
        for strength in strengths:
            start = time.perf_counter()
            edited = torch.cat(
                [
                    img2img(model, path, x[s], strength, num_steps=steps, noise=noise[s])
                    for s in _slices(n, batch_size)
                ]
            )
            seconds = time.perf_counter() - start
            rmse = (edited - x).pow(2).flatten(1).mean(1).sqrt()
            kept, confident = _judged(edited, labels, judge)
            fid = None
            if n >= fid_min_samples:
                fid = score_fid(edited.clamp(-1, 1), resamples=boot, seed=seed).as_dict()
            sdedit.append(
                {
                    **common,
                    "strength": strength,
                    "steps": steps,
                    "network_calls": _sdedit_calls(strength, steps, path),
                    "seconds": round(seconds, 1),
                    "rmse_to_input": _mean_row(rmse, boot, seed),
                    "kept_digit": _mean_row(kept, boot, seed),
                    "confident": _mean_row(confident, boot, seed),
                    "fid": fid,
                }
            )
        for keep in masks:
            mask = half_mask(keep)  # type: ignore[arg-type]
            for U in resamples:
                start = time.perf_counter()
                done = torch.cat(
                    [
                        inpaint(
                            model,
                            path,
                            x[s],
                            mask,
                            num_steps=steps,
                            resample=U,
                            generator=torch.Generator().manual_seed(seed + s.start),
                        )
                        for s in _slices(n, batch_size)
                    ]
                )
                seconds = time.perf_counter() - start
                hole = (1 - mask).expand_as(x)
                rmse = ((done - x).pow(2) * hole).flatten(1).sum(1) / hole.flatten(1).sum(1)
                kept, confident = _judged(done, labels, judge)
                inpainting.append(
                    {
                        **common,
                        "kept_half": keep,
                        "resample": U,
                        "steps": steps,
                        "network_calls": U * (steps - 1) + 1,
                        "seconds": round(seconds, 1),
                        "kept_digit": _mean_row(kept, boot, seed),
                        "confident": _mean_row(confident, boot, seed),
                        "rmse_generated": _mean_row(rmse.sqrt(), boot, seed),
                    }
                )
    return {
        "experiment": "editing",
        "checkpoints": list(checkpoints),
        "num_images": n,
        "seed": seed,
        "resamples": boot,
        "images": "held-out MNIST digits (load_mnist('test')), a random subset fixed by the "
        "seed; the same images and the same noise in every row",
        "judge": "mnist-classifier, trained on the training split only",
        "inputs": {
            "kept_digit": _mean_row(kept_in, boot, seed),
            "confident": _mean_row(confident_in, boot, seed),
        },
        "inversion": inversion,
        "sdedit": sdedit,
        "inpainting": inpainting,
    }


def _sdedit_calls(strength: float, steps: int, path: Any) -> int:
    """Network calls per image of :func:`~ddpm_tutorial.editing.img2img` at ``strength``."""
    if strength == 0:
        return 0
    from_grid = len(sdedit_grid(path, strength, steps))
    return from_grid - 1 if isinstance(path, FlowMatching) else from_grid
