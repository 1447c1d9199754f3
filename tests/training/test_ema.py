"""The exponential moving average of the weights."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.training.ema import EMA


def _net(value: float) -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    return net


def test_decay_warms_up_as_one_plus_n_over_ten_plus_n_then_caps():
    ema = EMA(_net(0.0), decay=0.999)
    assert ema.current_decay() == pytest.approx(0.1)
    ema.num_updates = 10
    assert ema.current_decay() == pytest.approx(11 / 20)
    ema.num_updates = 1_000_000
    assert ema.current_decay() == 0.999


def test_each_update_moves_the_average_toward_the_weights_by_one_minus_decay():
    net = _net(0.0)
    ema = EMA(net, decay=0.5)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)
    expected = 0.0
    for _ in range(5):
        d = ema.current_decay()
        ema.update(net)
        expected = d * expected + (1 - d) * 1.0
        for p in ema.model.parameters():
            torch.testing.assert_close(p, torch.full_like(p, expected))
    assert ema.num_updates == 5


def test_the_average_of_constant_weights_is_those_weights():
    net = _net(0.3)
    ema = EMA(net, decay=0.9)
    for _ in range(20):
        ema.update(net)
    for p_ema, p in zip(ema.model.parameters(), net.parameters()):
        torch.testing.assert_close(p_ema, p)


def test_buffers_are_copied_not_averaged():
    net = _net(0.0).train()
    ema = EMA(net, decay=0.99)
    net(torch.randn(8, 2) * 5 + 3)  # updates the batch-norm running statistics
    ema.update(net)
    for b_ema, b in zip(ema.model.buffers(), net.buffers()):
        assert torch.equal(b_ema, b)


def test_the_averaged_copy_is_frozen_in_eval_mode_and_separate():
    net = _net(0.0).train()
    ema = EMA(net)
    assert not ema.model.training
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert all(p.requires_grad for p in net.parameters())
    assert ema.model is not net


def test_a_skipped_step_leaves_the_average_where_it_was_and_a_kept_one_moves_it():
    net = _net(1.0)
    skipped, kept, plain = EMA(_net(0.0), 0.5), EMA(_net(0.0), 0.5), EMA(_net(0.0), 0.5)
    skipped.update(net, skip=torch.tensor(True))
    kept.update(net, skip=torch.tensor(False))
    plain.update(net)
    assert all(float(p.abs().max()) == 0.0 for p in skipped.model.parameters())
    assert skipped.num_updates == 1, "the count follows the training step"
    for a, b in zip(kept.model.parameters(), plain.model.parameters()):
        assert torch.equal(a, b) and float(a.max()) > 0
