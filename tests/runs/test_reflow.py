"""Reflow runs: the teacher's pairs, the student that starts as the teacher, the refusals."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint
from ddpm_tutorial.flow_matching import FlowMatching, sample_flow
from ddpm_tutorial.models import build_model
from ddpm_tutorial.runs import get_config, run_training
from ddpm_tutorial.runs.config import config_to_dict
from ddpm_tutorial.runs.reflow import load_teacher, teacher_pairs
from ddpm_tutorial.runs.run import _start_from_teacher


def test_mnist_reflow_is_mnist_flows_network_taught_by_mnist_flow_in_every_profile():
    for profile in ("smoke", "cpu"):
        config = get_config("mnist-reflow", profile)
        assert config.teacher == "mnist-flow" and config.objective == "flow"
        assert config.model == get_config("mnist-flow", "cpu").model
    assert get_config("mnist-reflow", "cpu").time_sampling == "uniform"


def test_the_pairs_are_the_teachers_ode_applied_to_seeded_noise():
    config = get_config("mnist-reflow", "smoke", num_pairs=5, teacher_steps=2)
    teacher = load_teacher(config)
    x0, z, info = teacher_pairs(teacher, config, batch_size=3)
    assert x0.shape == z.shape == (5, 1, 28, 28)
    expected_z = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(config.seed))
    assert torch.equal(z[:3], expected_z)  # the first batch of the seeded generator
    expected = sample_flow(
        teacher.model, teacher.schedule, (5, 1, 28, 28), num_steps=2, solver="heun", x_T=z
    )
    assert torch.allclose(x0, expected, atol=1e-5)
    again, _, _ = teacher_pairs(teacher, config, batch_size=3)
    assert torch.equal(again, x0)
    assert info["teacher"] == "mnist-flow" and info["teacher_steps"] == 2


def test_the_student_starts_with_the_teachers_weights():
    config = get_config("mnist-reflow", "smoke")
    student = build_model(config.model_kind, config_to_dict(config)["model"])
    _start_from_teacher(student, config)
    teacher = load_checkpoint("mnist-flow").model.state_dict()
    assert all(torch.equal(v, teacher[k]) for k, v in student.state_dict().items())


def test_a_reflow_run_trains_on_the_pairs_and_its_card_names_the_teacher(
    tmp_path, quick_heldout_loss
):
    config = get_config("mnist-reflow", "smoke", num_train_steps=2, num_pairs=16)
    card = run_training(config, tmp_path / "r", device="cpu", progress=False)
    assert card["data"]["teacher"] == "mnist-flow" and card["data"]["num_pairs"] == 16
    assert card["sampling"]["steps"] == 4 and card["sampling"]["sampler"] == "euler"
    assert isinstance(load_checkpoint(tmp_path / "r").schedule, FlowMatching)


def test_reflow_refuses_a_ddpm_objective_a_noise_predicting_teacher_or_another_network():
    with pytest.raises(ValueError, match="reflow .* trains an unconditional flow model"):
        get_config("mnist-reflow", "smoke", objective="ddpm")
    with pytest.raises(ValueError, match="unknown teacher solver 'rk4'"):
        get_config("mnist-reflow", "smoke", teacher_solver="rk4")
    with pytest.raises(ValueError, match="needs a flow-matching teacher; 'mnist-ddpm'"):
        load_teacher(get_config("mnist-reflow", "smoke", teacher="mnist-ddpm"))
    small = get_config("mnist-reflow", "smoke", model={"base_channels": 16})
    student = build_model(small.model_kind, config_to_dict(small)["model"])
    with pytest.raises(ValueError, match="the student's network must be 'mnist-flow''s"):
        _start_from_teacher(student, small)
