"""Imagen (Saharia et al. 2022) in miniature: a frozen text encoder and a cascade of diffusion models.

``mnist-imagen`` is the prompt through the frozen MiniLM text encoder, the 14x14 ``base``
model (``mnist-imagen-base``) with classifier-free guidance and a limit on the predicted clean
image (static clipping, or Imagen's dynamic thresholding, sec. 2.3), then the 14 -> 28
``upsampler`` (``mnist-imagen-sr``, a super-resolution diffusion model with noise-conditioning
augmentation, sec. 2.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .assembly import System, prompt_list
from .pipeline import draw_samples

__all__ = ["LIMITS", "ImagenSystem"]

#: how a sampler keeps the predicted clean image in range (see ``ImagenSystem.sample_low_res``)
LIMITS = ("none", "static", "dynamic")


class ImagenSystem(System):
    """Imagen's cascade: frozen text encoder -> 14x14 base -> 14 -> 28 super-resolution."""

    @torch.no_grad()
    def sample_low_res(
        self,
        prompt: str | Sequence[str],
        num_samples: int,
        *,
        seed: int = 0,
        guidance_scale: float | None = None,
        steps: int | None = None,
        limit: str | None = None,
        dynamic_threshold: float | None = None,
    ) -> Tensor:
        """The base model's (N, 1, 14, 14) samples, before super-resolution.

        ``limit`` is how the predicted clean image is kept in range at each step: ``"none"``,
        ``"static"`` (clip to [-1, 1]) or ``"dynamic"`` (Imagen's dynamic thresholding at the
        percentile ``dynamic_threshold``); None takes the card's.
        """
        o = self.sampling_options(
            guidance_scale=guidance_scale,
            steps=steps,
            limit=limit,
            dynamic_threshold=dynamic_threshold,
        )
        limit = str(o.get("limit", "static"))
        if limit not in LIMITS:
            raise ValueError(f"limit must be one of {', '.join(LIMITS)}; got {limit!r}")
        return draw_samples(
            self.parts["base"],
            num_samples,
            prompt=prompt_list(prompt, num_samples),
            seed=seed,
            guidance_scale=float(o.get("guidance_scale", 3.0)),
            steps=int(o.get("steps", 50)),
            dynamic_threshold=float(o.get("dynamic_threshold", 0.95))
            if limit == "dynamic"
            else None,
            clip_x0=limit == "static",
        )

    @torch.no_grad()
    def sample(
        self,
        prompt: str | Sequence[str],
        num_samples: int,
        *,
        seed: int = 0,
        guidance_scale: float | None = None,
        steps: int | None = None,
        limit: str | None = None,
        aug_level: float | None = None,
        upsampler_steps: int | None = None,
        return_low_res: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """(N, 1, 28, 28) images for the prompt(s) (and the 14x14 ones with ``return_low_res``).

        Options left at None take the system card's ``sampling`` defaults.
        """
        low = self.sample_low_res(
            prompt,
            num_samples,
            seed=seed,
            guidance_scale=guidance_scale,
            steps=steps,
            limit=limit,
        )
        o = self.sampling_options(aug_level=aug_level, upsampler_steps=upsampler_steps)
        high = self.upsample(low, o, torch.Generator().manual_seed(seed + 1))
        return (high, low) if return_low_res else high
