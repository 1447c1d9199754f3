"""The autoencoder: 28x28 <-> 4x7x7, loud errors."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.models import Autoencoder, AutoencoderConfig


def test_encode_decode_shapes():
    ae = Autoencoder(AutoencoderConfig(channels=8, latent_channels=3)).eval()
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    mean, logvar = ae.encode(x)
    assert mean.shape == logvar.shape == (2, 3, 7, 7)
    assert ae.latent_shape == (3, 7, 7)
    assert ae.decode(mean).shape == (2, 1, 28, 28)
    assert torch.allclose(ae(x), ae.decode(mean))


def test_bad_shapes_and_configs_raise():
    ae = Autoencoder(AutoencoderConfig(channels=8))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        ae.encode(torch.zeros(1, 1, 14, 14))
    with pytest.raises(ValueError, match=r"\(B, 4, 7, 7\)"):
        ae.decode(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="num_groups"):
        AutoencoderConfig(channels=12)
