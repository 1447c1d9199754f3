r"""The latent space of latent diffusion: training the autoencoder, scaling its latents.

The autoencoder (:class:`~ddpm_tutorial.models.Autoencoder`) is trained on images alone with a
reconstruction loss and a small KL term that keeps the latent close to a standard Gaussian
(Rombach et al. 2022, Sec. 3.1; Kingma & Welling 2014 for the KL):

.. math::

    \mathcal L = \lVert x - D(z) \rVert^2
       + \beta\,\mathrm{KL}\bigl(\mathcal N(\mu, \sigma^2)\,\Vert\,\mathcal N(0, I)\bigr),
    \qquad z = \mu + \sigma\epsilon,

    \mathrm{KL} = \tfrac12 \sum_j \bigl(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\bigr),

summed over pixels and latent entries, averaged over the batch. With a small
:math:`\beta` the latents are nearly deterministic but their scale is arbitrary, so latent
diffusion divides them by their standard deviation over the training set (Stable
Diffusion's ``scale_factor = 0.18215``): :func:`latent_scale` measures ours, and
:func:`encode_latents` / :func:`decode_latents` apply it, so that the diffusion model sees
latents of unit variance, as its noise schedule assumes of images in [-1, 1].
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.mnist import load_mnist
from ..models.autoencoder import Autoencoder, AutoencoderConfig
from ..training.fit import fit

__all__ = [
    "decode_latents",
    "encode_latents",
    "kl_divergence",
    "latent_scale",
    "load_autoencoder",
    "reconstruction_metrics",
    "run_autoencoder_training",
    "train_autoencoder",
    "vae_loss",
]


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per example, summed over the latent, shape (B,)."""
    return 0.5 * (mean.square() + logvar.exp() - 1 - logvar).flatten(1).sum(1)


def vae_loss(
    model: Autoencoder,
    x: Tensor,
    *,
    kl_weight: float = 1e-3,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """The loss of the module docstring for a batch x (B, 1, 28, 28); also its two parts."""
    mean, logvar = model.encode(x)
    eps = torch.randn(mean.shape, generator=generator).to(mean)
    z = mean + (0.5 * logvar).exp() * eps
    recon = (model.decode(z) - x).square().flatten(1).sum(1).mean()
    kl = kl_divergence(mean, logvar).mean()
    return recon + kl_weight * kl, {
        "reconstruction": float(recon.detach()),
        "kl": float(kl.detach()),
    }


def train_autoencoder(
    model: Autoencoder,
    images: Tensor,
    *,
    steps: int = 3000,
    batch_size: int = 128,
    lr: float = 2e-3,
    kl_weight: float = 1e-3,
    seed: int = 0,
    log_every: int = 100,
) -> list[tuple[int, float, float]]:
    """Train with :func:`vae_loss` (AdamW, one-cycle learning rate).

    Returns:
        ``(step, reconstruction, kl)`` every ``log_every`` steps (means since the last log).
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)

    def step_loss(step: int) -> tuple[Tensor, dict[str, float]]:
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=g)
        return vae_loss(model, images[idx], kl_weight=kl_weight, generator=g)

    log = fit(
        model, step_loss, steps=steps, lr=lr, weight_decay=1e-4, warmup=0.3, log_every=log_every
    )
    return [(int(step), rec, kl) for step, rec, kl in log]


@torch.no_grad()
def _means(model: Autoencoder, images: Tensor, batch_size: int = 500) -> Tensor:
    dev = next(model.parameters()).device
    return torch.cat(
        [
            model.encode(images[i : i + batch_size].to(dev).float())[0].cpu()
            for i in range(0, images.shape[0], batch_size)
        ]
    )


def latent_scale(model: Autoencoder, images: Tensor) -> float:
    """1 / (standard deviation of the posterior means over ``images``): the scale factor."""
    return float(1.0 / _means(model, images).std())


def encode_latents(model: Autoencoder, images: Tensor, scale: float) -> Tensor:
    """Scaled latents ``scale * mean(q(z|x))``, (N, z, 7, 7), for images (N, 1, 28, 28).

    The posterior mean rather than a sample: with the small KL weight the posterior's
    standard deviation is tiny next to the spread of the means.
    """
    return _means(model, images) * scale


@torch.no_grad()
def decode_latents(model: Autoencoder, latents: Tensor, scale: float) -> Tensor:
    """Images (N, 1, 28, 28) from scaled latents: ``decode(latents / scale)``."""
    dev = next(model.parameters()).device
    return torch.cat(
        [
            model.decode(latents[i : i + 500].to(dev) / scale).cpu()
            for i in range(0, latents.shape[0], 500)
        ]
    )


@torch.no_grad()
def reconstruction_metrics(original: Tensor, reconstruction: Tensor) -> dict[str, float]:
    """Mean squared error per pixel, PSNR (dB, peak-to-peak 2 for [-1, 1]), mean absolute error."""
    if original.shape != reconstruction.shape:
        raise ValueError(
            f"shapes differ: {tuple(original.shape)} and {tuple(reconstruction.shape)}"
        )
    mse = float(F.mse_loss(reconstruction.clamp(-1, 1), original))
    return {
        "mse": round(mse, 5),
        "psnr_db": round(10 * math.log10(4.0 / max(mse, 1e-12)), 2),
        "mean_abs_error": round(float((reconstruction.clamp(-1, 1) - original).abs().mean()), 4),
    }


def load_autoencoder(
    name: str = "mnist-autoencoder", device: torch.device | str = "cpu"
) -> tuple[Autoencoder, float]:
    """The shipped autoencoder and its latent scale (from the model card)."""
    ckpt = load_checkpoint(name, device=device)
    if not isinstance(ckpt.model, Autoencoder):
        raise ValueError(f"{name!r} is not an autoencoder checkpoint")
    scale = ckpt.card.get("latent", {}).get("scale")
    if scale is None:
        raise ValueError(f"the card of {name!r} records no latent scale")
    return ckpt.model, float(scale)


def run_autoencoder_training(
    out_dir: str | Path,
    *,
    steps: int = 3000,
    seed: int = 0,
    data_source: str = "auto",
    command: str = "",
    kl_weight: float = 1e-3,
) -> dict[str, Any]:
    """Train ``mnist-autoencoder`` on the training digits; measure it on held-out digits.

    The reconstruction error is measured on every held-out digit, the posterior's statistics
    (``posterior_std_mean``, ``latent_mean_std``, ``kl_per_image``) on at most 500 of them,
    drawn with ``seed``.
    """
    train = load_mnist("train", source=data_source, verbose=False)
    test = load_mnist("test", source=data_source, verbose=False)
    model = Autoencoder(AutoencoderConfig())
    start = time.perf_counter()
    log = train_autoencoder(model, train.images, steps=steps, kl_weight=kl_weight, seed=seed)
    wall = time.perf_counter() - start
    scale = latent_scale(model, train.images)
    recon = decode_latents(model, encode_latents(model, test.images, scale), scale)
    # the posterior's statistics on at most 500 held-out digits, a seeded random subset (the
    # first 500 of the offline split, sorted by class, would be the digits 0 to 4 alone)
    few = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:500]
    with torch.no_grad():
        mean, logvar = model.encode(test.images[few])
    metrics = {
        "held_out_reconstruction": reconstruction_metrics(test.images, recon),
        "posterior_std_mean": round(float((0.5 * logvar).exp().mean()), 4),
        "latent_mean_std": round(float(mean.std()), 4),
        "kl_per_image": round(float(kl_divergence(mean, logvar).mean()), 2),
        "evaluated_on": f"{test.source} {test.split} split, {len(test)} digits",
    }
    card = {
        "data": {
            "dataset": "mnist",
            "source": train.source,
            "split": "train",
            "num_images": len(train),
        },
        "training": {
            "steps": steps,
            "batch_size": 128,
            "seed": seed,
            "kl_weight": kl_weight,
            "wall_time_s": round(wall, 1),
            "loss_curve": [[s, round(r, 3), round(k, 2)] for s, r, k in log],
        },
        "latent": {"shape": list(model.latent_shape), "scale": round(scale, 6)},
        "metrics": metrics,
        "command": command,
    }
    return save_checkpoint(
        model,
        Path(out_dir) / "model.safetensors",
        schedule=None,
        name="mnist-autoencoder",
        card=card,
    )
