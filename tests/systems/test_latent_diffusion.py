"""Latents: the KL term, the VAE loss, the scale factor, reconstruction metrics."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl

from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.models import Autoencoder, AutoencoderConfig
from ddpm_tutorial.systems.latent_diffusion import (
    decode_latents,
    encode_latents,
    kl_divergence,
    latent_scale,
    load_autoencoder,
    reconstruction_metrics,
    train_autoencoder,
    vae_loss,
)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(3, 2, 7, 7, generator=g), torch.randn(3, 2, 7, 7, generator=g)
    expected = torch_kl(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).flatten(1).sum(1)
    assert torch.allclose(kl_divergence(mean, logvar), expected, atol=1e-5)
    assert torch.allclose(kl_divergence(torch.zeros(1, 4), torch.zeros(1, 4)), torch.zeros(1))


def test_vae_loss_is_reconstruction_plus_weighted_kl():
    torch.manual_seed(0)
    ae = Autoencoder(AutoencoderConfig(channels=8))
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    loss, parts = vae_loss(ae, x, kl_weight=0.5, generator=torch.Generator().manual_seed(1))
    assert float(loss.detach()) == pytest.approx(
        parts["reconstruction"] + 0.5 * parts["kl"], rel=1e-5
    )


def test_training_lowers_the_error_and_the_scale_gives_unit_variance():
    images = load_mnist("train", verbose=False).images[::20]  # 200 digits, all classes
    ae = Autoencoder(AutoencoderConfig(channels=8))
    log = train_autoencoder(ae, images, steps=40, batch_size=32, log_every=10)
    assert log[-1][1] < log[0][1]
    scale = latent_scale(ae, images)
    z = encode_latents(ae, images, scale)
    assert z.shape == (200, 4, 7, 7)
    assert float(z.std()) == pytest.approx(1.0, rel=1e-4)
    x = decode_latents(ae, z, scale)
    assert torch.allclose(x, ae(images).detach(), atol=1e-5)


def test_reconstruction_metrics():
    x = torch.zeros(2, 1, 28, 28)
    m = reconstruction_metrics(x, x + 0.1)
    assert m["mse"] == pytest.approx(0.01, rel=1e-4)
    assert m["psnr_db"] == pytest.approx(10 * math.log10(4 / 0.01), abs=0.01)
    with pytest.raises(ValueError, match="shapes differ"):
        reconstruction_metrics(x, x[:1])


def test_the_shipped_autoencoder_reconstructs_held_out_digits():
    ae, scale = load_autoencoder()
    test = load_mnist("test", verbose=False).images
    z = encode_latents(ae, test, scale)
    assert 0.8 < float(z.std()) < 1.2  # the scale was measured on the training digits
    assert reconstruction_metrics(test, decode_latents(ae, z, scale))["psnr_db"] > 20
