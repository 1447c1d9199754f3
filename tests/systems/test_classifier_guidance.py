"""Classifier guidance: Bayes' rule on a two-class Gaussian mixture, the noisy classifier, its card."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, read_card
from ddpm_tutorial.cli import main
from ddpm_tutorial.models import NoisyClassifier
from ddpm_tutorial.reverse_process import sample_ddim
from ddpm_tutorial.schedules import NoiseSchedule, gather_at
from ddpm_tutorial.systems.classifier_guidance import (
    ClassifierGuidedDenoiser,
    noisy_accuracy,
    sample_classifier_guided,
    train_noisy_classifier,
)

SCHEDULE = NoiseSchedule.linear(100)
M, V = 1.5, 0.2  # x0 ~ 1/2 N(-M, V) + 1/2 N(+M, V), label 0 for -M and 1 for +M


def _moments(t: torch.Tensor, like: torch.Tensor):
    ab = gather_at(SCHEDULE.alpha_bars, t, like=like)
    return ab, ab * V + (1 - ab)  # x_t | y ~ N(sqrt(ab) mu_y, ab V + 1 - ab)


def _log_normal(x, mean, var):
    return -0.5 * (x - mean) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)


def classifier(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The exact p(y | x_t): logits are the two classes' log-densities (equal priors)."""
    ab, var = _moments(t, x)
    means = [-ab.sqrt() * M, ab.sqrt() * M]
    return torch.cat([_log_normal(x, m, var).flatten(1).sum(1, keepdim=True) for m in means], 1)


def exact_eps(x: torch.Tensor, t: torch.Tensor, label: int | None = None) -> torch.Tensor:
    """E[noise | x_t] for the mixture (label None) or for one class: -sqrt(1 - ab) score."""
    ab, var = _moments(t, x)
    scores = [-(x - m) / var for m in (-ab.sqrt() * M, ab.sqrt() * M)]
    if label is not None:
        return -(1 - ab).sqrt() * scores[label]
    w = torch.softmax(
        torch.stack([_log_normal(x, m, var) for m in (-ab.sqrt() * M, ab.sqrt() * M)]), 0
    )
    return -(1 - ab).sqrt() * (w[0] * scores[0] + w[1] * scores[1])


def test_guidance_at_scale_one_turns_the_mixture_into_the_class_bayes_rule():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64).view(-1, 1, 1, 1)
    for step in (0, 30, 70, 99):
        t = torch.full((x.shape[0],), step, dtype=torch.long)
        for label in (0, 1):
            labels = torch.full((x.shape[0],), label, dtype=torch.long)
            guided = ClassifierGuidedDenoiser(exact_eps, classifier, labels, 1.0, SCHEDULE)
            assert torch.allclose(guided(x, t), exact_eps(x, t, label), atol=1e-10)


def test_scale_zero_is_the_unconditional_model_and_larger_scales_push_further():
    x = torch.randn(6, 1, 1, 1, dtype=torch.float64)
    t = torch.full((6,), 50, dtype=torch.long)
    labels = torch.ones(6, dtype=torch.long)
    plain = ClassifierGuidedDenoiser(exact_eps, classifier, labels, 0.0, SCHEDULE)(x, t)
    assert torch.equal(plain, exact_eps(x, t))
    one = ClassifierGuidedDenoiser(exact_eps, classifier, labels, 1.0, SCHEDULE)(x, t)
    three = ClassifierGuidedDenoiser(exact_eps, classifier, labels, 3.0, SCHEDULE)(x, t)
    assert torch.allclose(three - plain, 3 * (one - plain), atol=1e-12)


def test_guided_sampling_lands_in_the_chosen_class():
    labels = torch.tensor([0, 1] * 50)
    guided = ClassifierGuidedDenoiser(exact_eps, classifier, labels, 1.0, SCHEDULE)
    x = sample_ddim(
        guided, SCHEDULE, (100, 1, 1, 1), num_steps=50, generator=torch.Generator().manual_seed(0)
    )
    assert bool(((x.flatten() > 0).long() == labels).all())


def test_guidance_refuses_a_negative_scale_and_a_batch_of_another_size():
    with pytest.raises(ValueError, match="scale must be >= 0"):
        ClassifierGuidedDenoiser(
            exact_eps, classifier, torch.zeros(2, dtype=torch.long), -1, SCHEDULE
        )
    guided = ClassifierGuidedDenoiser(
        exact_eps, classifier, torch.zeros(2, dtype=torch.long), 1, SCHEDULE
    )
    with pytest.raises(ValueError, match="a batch of 3 images but 2 labels"):
        guided(torch.zeros(3, 1, 1, 1), torch.zeros(3, dtype=torch.long))


def test_noisy_classifier_checks_its_inputs():
    net = NoisyClassifier()
    assert net(torch.zeros(2, 1, 28, 28), torch.tensor([0, 999])).shape == (2, 10)
    with pytest.raises(ValueError, match=r"shape \(B, 1, 28, 28\)"):
        net(torch.zeros(2, 3, 28, 28), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="one step per image"):
        net(torch.zeros(2, 1, 28, 28), torch.zeros(3, dtype=torch.long))


def test_a_short_training_learns_something_and_samples_with_its_guidance():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(2).repeat(64)
    images = torch.where(labels[:, None, None, None] == 0, -0.8, 0.8).expand(-1, 1, 28, 28).clone()
    images += 0.05 * torch.randn(images.shape, generator=g)
    model = train_noisy_classifier(images, labels, SCHEDULE, steps=40, batch_size=32, lr=3e-3)
    acc = noisy_accuracy(model, images, labels, SCHEDULE, steps=(0, 99))
    assert acc["0"] > 0.9 and set(acc) == {"0", "99"}
    x = sample_classifier_guided(
        lambda x, t: torch.zeros_like(x), model, SCHEDULE, labels[:4], scale=2.0, num_steps=3
    )
    assert x.shape == (4, 1, 28, 28) and bool(torch.isfinite(x).all())


def test_train_noisy_classifier_command_writes_a_card_that_loads(tmp_path, capsys):
    argv = ["train-noisy-classifier", "--out", str(tmp_path), "--steps", "2", "--threads", "1"]
    assert main(argv) == 0
    card = read_card(tmp_path / "model.json")
    assert card["name"] == "mnist-noisy-classifier" and card["schedule"]["num_steps"] == 1000
    assert set(card["metrics"]["heldout_accuracy_by_step"]) == {
        "0",
        "100",
        "250",
        "500",
        "750",
        "999",
    }
    assert json.loads(capsys.readouterr().out) == card["metrics"]
    assert isinstance(load_checkpoint(tmp_path).model, NoisyClassifier)
