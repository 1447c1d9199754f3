"""unCLIP's priors: shapes, the null text of classifier-free guidance, loud errors."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.models import DiffusionPrior, PriorConfig, RegressionPrior

CFG = PriorConfig(embed_dim=8, hidden_dim=16, num_layers=2, time_dim=8)


def test_diffusion_prior_shapes_and_dropped_text():
    torch.manual_seed(0)
    prior = DiffusionPrior(CFG)
    torch.nn.init.normal_(prior.null_text)
    z, t, y = torch.randn(4, 8), torch.tensor([0, 10, 500, 999]), torch.randn(4, 8)
    out = prior(z, t, y)
    assert out.shape == (4, 8)
    keep = torch.tensor([True, False, True, False])
    mixed = prior(z, t, y, cond_mask=keep)
    uncond = prior(z, t, None)
    assert torch.allclose(mixed[keep], out[keep])
    assert torch.allclose(mixed[~keep], uncond[~keep])
    assert not torch.allclose(out[~keep], uncond[~keep])


def test_priors_refuse_wrong_shapes():
    prior, reg = DiffusionPrior(CFG), RegressionPrior(CFG)
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        prior(torch.randn(4, 7), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"t must"):
        prior(torch.randn(4, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="cond"):
        prior(torch.randn(4, 8), torch.zeros(4, dtype=torch.long), torch.randn(4, 5))
    with pytest.raises(ValueError, match="text"):
        reg(torch.randn(4, 5))
    assert reg(torch.randn(4, 8)).shape == (4, 8)
    with pytest.raises(ValueError, match="time_dim"):
        PriorConfig(time_dim=7)
