r"""unCLIP (DALL-E 2, Ramesh et al. 2022) in miniature: CLIP, a prior, a decoder, an upsampler.

Generation is :math:`P(x \mid y) = P(x \mid z_i, y)\,P(z_i \mid y)` (eq. 1 of the paper): the
*prior* turns the caption :math:`y` (through its CLIP text embedding :math:`z_t`) into a
CLIP image embedding :math:`z_i`, and the *decoder* turns :math:`z_i` into an image. Here:

* the CLIP is ``mnist-clip`` (Part IV, 4.1): 64-dimensional unit embeddings;
* the prior is a :class:`~ddpm_tutorial.models.prior.DiffusionPrior` trained by
  :func:`train_prior` on (caption, digit) pairs, predicting the clean embedding
  (sec. 2.2) and sampled by :func:`sample_prior` (DDIM over 64 strided steps with
  classifier-free guidance, as in the paper); :func:`train_regression_prior` fits the
  deterministic baseline it must beat, and :func:`prior_report` compares them;
* the decoder is a 14x14 UNet conditioned on the scaled image embedding (the
  ``mnist-unclip-decoder`` config), followed by the 14 -> 28 super-resolution diffusion
  model ``mnist-imagen-sr`` (DALL-E 2 decodes at 64x64 and upsamples twice, to 1024x1024);
* :func:`image_variations` encodes a given digit with CLIP's image tower and decodes the
  embedding with fresh noise: the same digit in other handwriting (sec. 3.1).

Embeddings are handled scaled to norm :math:`\sqrt{D}` (:func:`scale_embeddings`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..checkpoints import save_checkpoint
from ..forward_process import add_noise
from ..metrics.clip_score import image_embeddings, load_clip
from ..metrics.fid import frechet_distance, gaussian_statistics
from ..models.clip import CLIP
from ..models.prior import DiffusionPrior, PriorConfig, RegressionPrior
from ..reverse_process import sample_ddim
from ..schedules import NoiseSchedule
from ..training.fit import fit
from .assembly import System, prompt_list
from .clip import captioned_digits, zero_shot_text_embeddings

__all__ = [
    "PRIOR_SCHEDULE",
    "UnCLIPSystem",
    "embedding_frechet_distance",
    "image_variations",
    "prior_pairs",
    "prior_report",
    "run_prior_training",
    "sample_prior",
    "scale_embeddings",
    "train_prior",
    "train_regression_prior",
]

#: the prior's noise schedule: cosine over 1000 steps (Ramesh et al. 2022, table 3)
PRIOR_SCHEDULE = ("cosine", 1000)


def scale_embeddings(unit: Tensor) -> Tensor:
    r"""Unit CLIP embeddings (N, D) scaled to norm :math:`\sqrt D` (per-coordinate variance ~1)."""
    return unit * math.sqrt(unit.shape[-1])


def prior_schedule() -> NoiseSchedule:
    """The prior's :data:`PRIOR_SCHEDULE`."""
    return NoiseSchedule.from_name(*PRIOR_SCHEDULE)


@torch.no_grad()
def prior_pairs(
    clip: CLIP, split: str = "train", *, source: str = "auto", captions_per_image: int = 4
) -> dict[str, Any]:
    """The prior's training data: one (caption embedding, image embedding) pair per caption.

    Returns:
        ``{"text": (N, D), "image": (N, D), "labels": (N,), "captions": [N str]}``, the
        embeddings scaled by :func:`scale_embeddings`; each digit appears once per caption.
    """
    images, labels, captions, _ = captioned_digits(
        split, captions_per_image=captions_per_image, source=source
    )
    flat = [c for per_image in captions for c in per_image]
    distinct = sorted(set(flat))
    clip.eval()
    table = torch.cat(
        [clip.encode_prompts(distinct[i : i + 512]).cpu() for i in range(0, len(distinct), 512)]
    )
    index = {c: i for i, c in enumerate(distinct)}
    text = table[torch.tensor([index[c] for c in flat])]
    image = image_embeddings(clip, images).repeat_interleave(captions_per_image, dim=0)
    return {
        "text": scale_embeddings(text),
        "image": scale_embeddings(image),
        "labels": labels.repeat_interleave(captions_per_image),
        "captions": flat,
    }


def train_prior(
    text: Tensor,
    image: Tensor,
    *,
    steps: int = 4000,
    batch_size: int = 256,
    lr: float = 1e-3,
    cond_drop_prob: float = 0.1,
    seed: int = 0,
    config: PriorConfig | None = None,
) -> tuple[DiffusionPrior, list[tuple[int, float]]]:
    r"""Train a :class:`DiffusionPrior`: :math:`\mathbb E\,\lVert f(z_i^{(t)}, t, z_t) - z_i\rVert^2`.

    Args:
        text, image: paired scaled embeddings (N, D) from :func:`prior_pairs`.
        cond_drop_prob: the probability of training an example without its caption.

    Returns:
        The network (eval mode) and ``(step, mean loss)`` every ``max(1, steps // 20)`` steps.
    """
    if text.shape != image.shape or text.ndim != 2:
        raise ValueError(
            f"text and image must be paired (N, D) embeddings; got {tuple(text.shape)} and "
            f"{tuple(image.shape)}"
        )
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = DiffusionPrior(config or PriorConfig(embed_dim=text.shape[1]))
    schedule = prior_schedule()

    def step_loss(step: int) -> Tensor:
        idx = torch.randint(0, text.shape[0], (batch_size,), generator=g)
        z0, y = image[idx], text[idx]
        t = torch.randint(0, schedule.num_steps, (batch_size,), generator=g)
        eps = torch.randn(z0.shape, generator=g)
        z_t = add_noise(z0, t, eps, schedule)
        keep = torch.rand(batch_size, generator=g) >= cond_drop_prob
        return (model(z_t, t, y, cond_mask=keep) - z0).pow(2).mean()

    curve = fit(model, step_loss, steps=steps, lr=lr, grad_clip=1.0)
    model.requires_grad_(False)
    return model, [(int(step), loss) for step, loss in curve]


def train_regression_prior(
    text: Tensor,
    image: Tensor,
    *,
    steps: int = 4000,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    config: PriorConfig | None = None,
) -> tuple[RegressionPrior, list[tuple[int, float]]]:
    r"""The baseline: :math:`\min_f \mathbb E\,\lVert f(z_t) - z_i\rVert^2`, same data and budget."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = RegressionPrior(config or PriorConfig(embed_dim=text.shape[1]))

    def step_loss(step: int) -> Tensor:
        idx = torch.randint(0, text.shape[0], (batch_size,), generator=g)
        return (model(text[idx]) - image[idx]).pow(2).mean()

    curve = fit(model, step_loss, steps=steps, lr=lr)
    model.requires_grad_(False)
    return model, [(int(step), loss) for step, loss in curve]


@torch.no_grad()
def sample_prior(
    prior: DiffusionPrior,
    text: Tensor,
    *,
    num_steps: int = 64,
    guidance_scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Image embeddings for caption embeddings ``text`` (B, D): DDIM (eta 0) on the clean-embedding prediction.

    The prior predicts the clean embedding :math:`\hat z_0` (Ramesh et al. 2022, sec. 2.2), so
    it samples through :func:`~ddpm_tutorial.reverse_process.sample_ddim` with
    ``prediction="x0"``: at each visited step :math:`t \to s` the guided prediction
    :math:`\hat z_0 = f_u + w (f_c - f_u)` gives the implied noise
    :math:`\hat\varepsilon = (z_t - \sqrt{\bar\alpha_t}\hat z_0)/\sqrt{1-\bar\alpha_t}` and
    :math:`z_s = \sqrt{\bar\alpha_s}\hat z_0 + \sqrt{1-\bar\alpha_s}\hat\varepsilon`
    (Song et al. 2021, eq. 12). The result is projected onto the sphere of radius
    :math:`\sqrt D`, where CLIP's scaled embeddings live.

    Returns:
        (B, D) scaled image embeddings, on the CPU.
    """
    dev = prior.null_text.device
    z0 = sample_ddim(
        prior,
        prior_schedule(),
        tuple(text.shape),
        num_steps=num_steps,
        cond=text.to(dev),
        guidance_scale=guidance_scale,
        prediction="x0",
        generator=generator,
        device=dev,
    )
    D = z0.shape[1]
    return (torch.nn.functional.normalize(z0, dim=1) * math.sqrt(D)).cpu()


def embedding_frechet_distance(a: Tensor, b: Tensor) -> float:
    """The Fréchet distance between Gaussian fits of two sets of embeddings (N, D), (M, D).

    The FID's formula (:func:`~ddpm_tutorial.metrics.fid.frechet_distance`) applied to CLIP
    image embeddings: 0 when a prior's embeddings are distributed as real images' are.
    """
    mu_a, cov_a = gaussian_statistics(a)
    mu_b, cov_b = gaussian_statistics(b)
    return float(frechet_distance(mu_a, cov_a, mu_b, cov_b))


@torch.no_grad()
def prior_report(
    prior: DiffusionPrior,
    regression: RegressionPrior,
    clip: CLIP,
    heldout: dict[str, Any],
    *,
    guidance_scale: float = 1.0,
    seed: int = 0,
) -> dict[str, float]:
    """Compare the diffusion prior with the regression baseline on held-out captions.

    For each held-out (caption, digit) pair both priors produce an image embedding from the
    caption alone. Measured, for each and for the caption's own text embedding used as if it
    were an image embedding (what unCLIP would do without a prior):

    * ``*_frechet``: the Fréchet distance of the produced embeddings to the real digits'
      image embeddings (lower is better; it sees spread, not only the average);
    * ``*_cosine``: the mean cosine similarity to the paired digit's own embedding;
    * ``*_digit_accuracy``: how often CLIP's zero-shot classifier, applied to the produced
      embedding, names the digit of the caption;
    * ``*_spread``: the mean distance between two embeddings produced for the same caption
      (0 for a deterministic prior), and ``real_spread``, the same between two real digits
      sharing a caption.
    """
    g = torch.Generator().manual_seed(seed)
    text, real, labels = heldout["text"], heldout["image"], heldout["labels"]
    scale = math.sqrt(text.shape[1])
    routes = {
        "diffusion": lambda: sample_prior(prior, text, guidance_scale=guidance_scale, generator=g),
        "regression": lambda: torch.nn.functional.normalize(regression(text), dim=1) * scale,
        "text": lambda: text,
    }
    produced = {name: route() for name, route in routes.items()}
    second = {name: routes[name]() for name in ("diffusion", "regression")}  # a second draw
    classes = zero_shot_text_embeddings(clip).cpu()  # (10, D) unit
    report: dict[str, float] = {}
    for name, z in produced.items():
        unit = torch.nn.functional.normalize(z, dim=1)
        report[f"{name}_frechet"] = embedding_frechet_distance(z, real)
        report[f"{name}_cosine"] = float(
            (unit * torch.nn.functional.normalize(real, dim=1)).sum(1).mean()
        )
        report[f"{name}_digit_accuracy"] = float(
            ((unit @ classes.T).argmax(1) == labels).float().mean()
        )
    for name, z in second.items():
        report[f"{name}_spread"] = float((produced[name] - z).norm(dim=1).mean())
    # real digits sharing a caption: pair each with another at random among the same caption
    by_caption: dict[str, list[int]] = {}
    for i, c in enumerate(heldout["captions"]):
        by_caption.setdefault(c, []).append(i)
    gaps = [
        float((real[idx[0]] - real[idx[1]]).norm()) for idx in by_caption.values() if len(idx) > 1
    ]
    report["real_spread"] = sum(gaps) / max(len(gaps), 1)
    return report


@torch.no_grad()
def image_variations(
    clip: CLIP,
    decode: Any,
    images: Tensor,
    num_variations: int = 4,
    *,
    seed: int = 0,
) -> Tensor:
    """Variations of each image: its CLIP image embedding decoded with fresh noise (sec. 3.1).

    Args:
        clip: the CLIP whose image tower encodes ``images`` (B, 1, 28, 28).
        decode: a function from scaled image embeddings (N, D) and a generator to images
            (N, 1, 28, 28): the decoder and upsampler of an unCLIP system.
        num_variations: variations per image.

    Returns:
        (B, num_variations, 1, 28, 28).
    """
    z = scale_embeddings(image_embeddings(clip, images))
    g = torch.Generator().manual_seed(seed)
    out = decode(z.repeat_interleave(num_variations, dim=0), g)
    return out.reshape(images.shape[0], num_variations, *out.shape[1:])


def run_prior_training(
    out_dir: str | Path,
    *,
    steps: int = 4000,
    seed: int = 0,
    data_source: str = "auto",
    command: str = "",
    clip: str = "mnist-clip",
    batch_size: int = 256,
) -> dict[str, Any]:
    """Train the diffusion prior and the regression baseline on ``clip``'s embeddings.

    Writes ``out_dir/model.safetensors`` (the diffusion prior) and
    ``out_dir/regression.safetensors`` (the baseline), each with its card; both cards carry
    :func:`prior_report`'s measurements on the held-out split. Returns the prior's card.
    """
    out_dir = Path(out_dir)
    model = load_clip(clip)
    train = prior_pairs(model, "train", source=data_source)
    test = prior_pairs(model, "test", source=data_source)
    start = time.perf_counter()
    prior, curve = train_prior(
        train["text"], train["image"], steps=steps, batch_size=batch_size, seed=seed
    )
    prior_time = time.perf_counter() - start
    start = time.perf_counter()
    regression, reg_curve = train_regression_prior(
        train["text"], train["image"], steps=steps, batch_size=batch_size, seed=seed
    )
    reg_time = time.perf_counter() - start
    report = prior_report(prior, regression, model, test, seed=seed)
    data = {
        "dataset": "captioned MNIST (Part II's captions)",
        "pairs": int(train["text"].shape[0]),
        "heldout_pairs": int(test["text"].shape[0]),
        "source": data_source,
        "clip": clip,
    }
    common = {"data": data, "metrics": report, "command": command, "clip": clip}

    def training(wall: float, loss_curve: list[tuple[int, float]], **more: Any) -> dict[str, Any]:
        return {
            "steps": steps,
            "batch_size": batch_size,
            "seed": seed,
            "wall_time_s": round(wall, 1),
            "torch_threads": torch.get_num_threads(),
            "loss_curve": loss_curve,
            **more,
        }

    save_checkpoint(
        regression,
        out_dir / "regression.safetensors",
        schedule=None,
        name="regression-prior",
        card={**common, "training": training(reg_time, reg_curve)},
    )
    return save_checkpoint(
        prior,
        out_dir / "model.safetensors",
        schedule=prior_schedule(),
        name="diffusion-prior",
        card={
            **common,
            "sampling": {"sampler": "ddim", "steps": 64, "prediction": "x0"},
            "training": training(prior_time, curve, cond_drop_prob=0.1),
        },
    )


class UnCLIPSystem(System):
    """unCLIP: CLIP text tower -> diffusion prior -> 14x14 decoder -> 14 -> 28 super-resolution."""

    @torch.no_grad()
    def image_embeddings(
        self,
        prompt: str | Sequence[str],
        num_samples: int,
        *,
        seed: int = 0,
        prior_guidance_scale: float | None = None,
    ) -> Tensor:
        """Scaled CLIP image embeddings (N, D) that the prior produces for the prompt(s)."""
        o = self.sampling_options(prior_guidance_scale=prior_guidance_scale)
        text = scale_embeddings(
            self.parts["clip"].model.encode_prompts(prompt_list(prompt, num_samples))
        )  # type: ignore[operator]
        return sample_prior(
            self.parts["prior"].model,  # type: ignore[arg-type]
            text,
            num_steps=int(o.get("prior_steps", 64)),
            guidance_scale=float(o.get("prior_guidance_scale", 1.0)),
            generator=torch.Generator().manual_seed(seed),
        )

    @torch.no_grad()
    def decode(
        self,
        embeddings: Tensor,
        generator: torch.Generator,
        *,
        guidance_scale: float | None = None,
        steps: int | None = None,
        aug_level: float | None = None,
        upsampler_steps: int | None = None,
        return_low_res: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Images (N, 1, 28, 28) from scaled CLIP image embeddings (N, D): decoder, then upsampler."""
        o = self.sampling_options(
            guidance_scale=guidance_scale,
            steps=steps,
            aug_level=aug_level,
            upsampler_steps=upsampler_steps,
        )
        dec = self.parts["decoder"]
        cfg = dec.model.config
        device = next(dec.model.parameters()).device
        low = sample_ddim(
            dec.model,
            dec.schedule,  # type: ignore[arg-type]
            (embeddings.shape[0], cfg.in_channels, cfg.image_size, cfg.image_size),
            num_steps=int(o.get("steps", 50)),
            cond=embeddings.to(device),
            guidance_scale=float(o.get("guidance_scale", 3.0)),
            dynamic_threshold=o.get("dynamic_threshold"),
            clip_x0=bool(o.get("clip_x0", True)) and o.get("dynamic_threshold") is None,
            generator=generator,
            device=device,
        ).cpu()
        high = self.upsample(low, o, generator)
        return (high, low) if return_low_res else high

    @torch.no_grad()
    def sample(
        self,
        prompt: str | Sequence[str],
        num_samples: int,
        *,
        seed: int = 0,
        guidance_scale: float | None = None,
        steps: int | None = None,
        prior_guidance_scale: float | None = None,
        aug_level: float | None = None,
        upsampler_steps: int | None = None,
    ) -> Tensor:
        """(N, 1, 28, 28) images for the prompt(s): prior, then decoder and upsampler."""
        z = self.image_embeddings(
            prompt, num_samples, seed=seed, prior_guidance_scale=prior_guidance_scale
        )
        out = self.decode(
            z,
            torch.Generator().manual_seed(seed + 1),
            guidance_scale=guidance_scale,
            steps=steps,
            aug_level=aug_level,
            upsampler_steps=upsampler_steps,
        )
        assert isinstance(out, Tensor)
        return out

    @torch.no_grad()
    def variations(
        self,
        images: Tensor,
        num_variations: int = 4,
        *,
        seed: int = 0,
        steps: int | None = None,
        upsampler_steps: int | None = None,
    ) -> Tensor:
        """(B, num_variations, 1, 28, 28): each image's CLIP embedding decoded with fresh noise."""

        def decode(z: Tensor, g: torch.Generator) -> Tensor:
            out = self.decode(z, g, steps=steps, upsampler_steps=upsampler_steps)
            assert isinstance(out, Tensor)
            return out

        return image_variations(
            self.parts["clip"].model,  # type: ignore[arg-type]
            decode,
            images,
            num_variations,
            seed=seed,
        )
