r"""Classifier guidance (Dhariwal & Nichol 2021): steer an unconditional model with a noisy classifier.

A classifier ``p(y | x_t, t)`` trained on the noisy images of the forward process
(:class:`~ddpm_tutorial.models.NoisyClassifier`) gives the gradient of its log-probability,
the score of ``p(y | x_t)``. Bayes' rule adds it to the unconditional score,
``grad log p(x_t | y) = grad log p(x_t) + grad log p(y | x_t)``, and since the noise
prediction is a scaled score (``score = -eps / sqrt(1 - alpha_bar_t)``) the guided noise is

.. math::

    \hat\epsilon(x_t) = \epsilon_\theta(x_t) - s \sqrt{1 - \bar\alpha_t}\,
    \nabla_{x_t} \log p_\phi(y \mid x_t),

Algorithm 2 of Dhariwal & Nichol (2021) with the gradient scaled by the guidance scale ``s``
(their sec. 4.3 scales the classifier gradient the same way; ``s = 0`` is the unconditional
model). :class:`ClassifierGuidedDenoiser` is that noise as a denoiser, so the book's own DDIM
loop samples with it unchanged. Classifier-free guidance (Ho & Salimans 2022) reaches the same
end without a classifier, from a model trained with and without its condition.

The recipe: :func:`train_noisy_classifier` (cross-entropy on ``x_t = add_noise(x0, t, noise)``
with ``t`` uniform, on augmented training digits), :func:`noisy_accuracy` (held-out accuracy
per step) and :func:`run_noisy_classifier_training`, which the command
``python -m ddpm_tutorial train-noisy-classifier`` runs to write ``mnist-noisy-classifier``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoints import save_checkpoint
from ..data.augment import augment_digits
from ..data.mnist import load_mnist
from ..forward_process import add_noise
from ..models import NoisyClassifier, NoisyClassifierConfig
from ..reverse_process import sample_ddim
from ..schedules import NoiseSchedule, gather_at
from ..training.fit import fit

__all__ = [
    "ClassifierGuidedDenoiser",
    "noisy_accuracy",
    "run_noisy_classifier_training",
    "sample_classifier_guided",
    "train_noisy_classifier",
]

#: the steps at which the card reports held-out accuracy
ACCURACY_STEPS = (0, 100, 250, 500, 750, 999)


def train_noisy_classifier(
    images: Tensor,
    labels: Tensor,
    schedule: NoiseSchedule,
    *,
    steps: int = 3000,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    config: NoisyClassifierConfig | None = None,
) -> NoisyClassifier:
    """Train ``p(y | x_t, t)`` on noisy digits (Dhariwal & Nichol 2021, sec. 4 and 4.3).

    Each step draws a batch of training digits (randomly shifted, rotated and scaled), a step
    ``t ~ Uniform{0..T-1}`` and a noise per digit, noises them with :func:`add_noise` and
    takes the cross-entropy of the labels.

    Args:
        images, labels: (N, 1, 28, 28) in [-1, 1] and (N,) int64.
        schedule: the noise schedule of the model it will guide.
    """
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = NoisyClassifier(config)

    def step_loss(step: int) -> Tensor:
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=g)
        x0 = augment_digits(images[idx], g)
        t = torch.randint(0, schedule.num_steps, (batch_size,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        return F.cross_entropy(model(add_noise(x0, t, noise, schedule), t), labels[idx])

    fit(model, step_loss, steps=steps, lr=lr, weight_decay=1e-4)
    return model.eval()


@torch.no_grad()
def noisy_accuracy(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    schedule: NoiseSchedule,
    steps: Sequence[int] = ACCURACY_STEPS,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Held-out accuracy of the noisy classifier at each step ``t`` (one fixed noise per digit)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=g)
    out = {}
    for step in steps:
        t = torch.full((images.shape[0],), step, dtype=torch.long)
        pred = model(add_noise(images, t, noise, schedule), t).argmax(1)
        out[str(step)] = round(float((pred == labels).double().mean()), 4)
    return out


class ClassifierGuidedDenoiser:
    """The guided noise ``eps - s sqrt(1 - alpha_bar_t) grad log p(y | x_t, t)`` as a denoiser.

    Call it as the samplers call a denoiser, ``guided(x_t, t)``; it holds the labels ``y`` of
    the batch, so sample with a batch of the same size.

    Args:
        model: the unconditional noise predictor ``model(x_t, t)``.
        classifier: the noisy classifier ``classifier(x_t, t) -> logits``.
        labels: (B,) int64, the digit each sample is steered toward.
        scale: the guidance scale ``s`` (0: unguided).
        schedule: the noise schedule of both.
    """

    def __init__(
        self,
        model: nn.Module,
        classifier: nn.Module,
        labels: Tensor,
        scale: float,
        schedule: NoiseSchedule,
    ) -> None:
        if scale < 0:
            raise ValueError(f"the classifier guidance scale must be >= 0; got {scale}")
        if labels.ndim != 1:
            raise ValueError(f"labels must have shape (B,); got {tuple(labels.shape)}")
        self.model, self.classifier, self.labels = model, classifier, labels
        self.scale, self.schedule = float(scale), schedule

    def log_prob_gradient(self, x_t: Tensor, t: Tensor) -> Tensor:
        """``grad_{x_t} log p(y | x_t, t)`` for the held labels, shape of ``x_t``."""
        if x_t.shape[0] != self.labels.shape[0]:
            raise ValueError(
                f"a batch of {x_t.shape[0]} images but {self.labels.shape[0]} labels; sample "
                "a batch of the labels' size"
            )
        with torch.enable_grad():
            x = x_t.detach().float().requires_grad_(True)
            log_p = F.log_softmax(self.classifier(x, t), dim=1)
            chosen = log_p.gather(1, self.labels.to(x.device)[:, None]).sum()
            return torch.autograd.grad(chosen, x)[0]

    def __call__(self, x_t: Tensor, t: Tensor) -> Tensor:
        eps = self.model(x_t, t)
        if self.scale == 0:
            return eps
        sqrt_one_minus_ab = gather_at(self.schedule.alpha_bars, t, like=x_t).mul(-1).add(1).sqrt()
        return eps - self.scale * sqrt_one_minus_ab * self.log_prob_gradient(x_t, t)


def sample_classifier_guided(
    model: nn.Module,
    classifier: nn.Module,
    schedule: NoiseSchedule,
    labels: Tensor,
    *,
    scale: float = 1.0,
    num_steps: int = 50,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """DDIM samples (eta = 0) steered toward ``labels``: Dhariwal & Nichol (2021), Algorithm 2.

    Returns:
        Images of shape (B, 1, 28, 28) with B = ``len(labels)``.
    """
    guided = ClassifierGuidedDenoiser(model, classifier, labels, scale, schedule)
    size = classifier.config.image_size if hasattr(classifier, "config") else 28
    shape = (labels.shape[0], 1, size, size)
    return sample_ddim(  # type: ignore[return-value]
        guided,
        schedule,
        shape,
        num_steps=num_steps,
        clip_x0=clip_x0,
        generator=generator,
        device=device,
    )


def run_noisy_classifier_training(
    out_dir: str | Path,
    *,
    steps: int = 3000,
    seed: int = 0,
    data_source: str = "auto",
    command: str = "",
) -> dict[str, Any]:
    """Train ``mnist-noisy-classifier`` on the training split, on ``mnist-ddpm``'s schedule.

    The schedule is the linear one of 1,000 steps that ``mnist-ddpm`` was trained with; the
    card records held-out accuracy at the steps of :data:`ACCURACY_STEPS`. Writes
    ``out_dir/model.safetensors`` and its card.
    """
    train = load_mnist("train", source=data_source, verbose=False)
    held_out = load_mnist("test", source=data_source, verbose=False)
    schedule = NoiseSchedule.linear(1000)
    start = time.perf_counter()
    model = train_noisy_classifier(train.images, train.labels, schedule, steps=steps, seed=seed)
    wall = time.perf_counter() - start
    card = {
        "data": {
            "dataset": "mnist",
            "source": train.source,
            "split": train.split,
            "num_images": len(train),
        },
        "training": {
            "steps": steps,
            "batch_size": 128,
            "seed": seed,
            "wall_time_s": round(wall, 1),
            "torch_threads": torch.get_num_threads(),
            "augmentation": "rotation +-12 deg, scale 0.9-1.1, shift +-2 px, then noised",
        },
        "metrics": {
            "heldout_accuracy_by_step": noisy_accuracy(
                model, held_out.images, held_out.labels, schedule
            ),
            "evaluated_on": f"{held_out.source} {held_out.split} split, {len(held_out)} digits",
        },
        "guides": "mnist-ddpm (linear schedule, T = 1000)",
        "command": command,
    }
    return save_checkpoint(
        model,
        Path(out_dir) / "model.safetensors",
        schedule=schedule,
        name="mnist-noisy-classifier",
        card=card,
    )
