"""Several processes: each takes its slice of every global batch, and 2 processes under torchrun
(gloo, on the CPU) train the weights that 1 process trains on the same global batch."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ddpm_tutorial.data import make_toy_data
from ddpm_tutorial.losses import noise_prediction_loss
from ddpm_tutorial.models import MLPConfig, MLPDenoiser
from ddpm_tutorial.runs import get_config, run_training
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.training import World, current_world, train_denoiser

REPO = Path(__file__).resolve().parents[2]
#: how far 2 processes' weights may drift from 1 process's after K steps (see the test below)
ATOL = 1e-6


def test_the_slices_of_the_processes_partition_the_global_batch():
    rows = [World(rank=r, world_size=4).rows(12) for r in range(4)]
    assert [(s.start, s.stop) for s in rows] == [(0, 3), (3, 6), (6, 9), (9, 12)]
    assert World().rows(12) == slice(0, 12) and World().is_main
    assert not World(rank=1, world_size=2).is_main


def test_a_batch_that_does_not_divide_among_the_processes_is_refused_in_one_line():
    with pytest.raises(
        ValueError, match="batch_size 10 does not divide among 4 processes; use a multiple of 4"
    ):
        World(rank=0, world_size=4).rows(10)
    config = get_config("toy-moons", "smoke", batch_size=10, num_train_steps=1)
    with pytest.raises(ValueError, match="batch_size 10 does not divide among 3"):
        train_denoiser(
            MLPDenoiser(config.model),
            make_toy_data("moons", 64),
            NoiseSchedule.linear(10),
            config,
            device="cpu",
            progress=False,
            world=World(rank=0, world_size=3),
        )


def test_one_process_alone_is_rank_0_of_1_and_its_mean_is_the_value_itself():
    world = current_world()
    assert (
        world == World()
        and world.wrap(model := torch.nn.Linear(2, 2), torch.device("cpu")) is model
    )
    value = torch.tensor(1.5)
    assert world.mean(value) is value


def test_the_loop_draws_what_noise_prediction_loss_draws_in_the_same_order():
    """The draws of a step (indices, t, noise) are noise_prediction_loss's: same first loss."""
    config = get_config(
        "toy-moons",
        "smoke",
        num_train_steps=1,
        batch_size=16,
        log_every=1,
        precision="fp32",
        model=MLPConfig(hidden_dim=16, num_layers=2),
    )
    data, schedule = make_toy_data("moons", 64), NoiseSchedule.linear(50)
    torch.manual_seed(config.seed)
    model = MLPDenoiser(config.model)
    reference = MLPDenoiser(config.model)
    reference.load_state_dict(model.state_dict())
    state = train_denoiser(model, data, schedule, config, device="cpu", progress=False)
    g = torch.Generator().manual_seed(config.seed + 1)  # TrainState.create's generator
    idx = torch.randint(0, 64, (16,), generator=g)
    with torch.no_grad():
        expected = noise_prediction_loss(reference.train(), data[idx], schedule, generator=g)
    assert state.losses == [(1, pytest.approx(expected.item(), rel=1e-6))]


# ---------------------------------------------------------------------------- 2 processes
def test_two_processes_under_torchrun_train_the_weights_of_one_process(tmp_path):
    """torchrun --nproc-per-node 2 (gloo, CPU) against one process, same global batch of 64.

    The two runs differ only in the order of float32 sums (the gradient all-reduce adds two
    half-batch means where one process takes one mean), so after K = 10 AdamW steps in float32
    every weight and every EMA weight must agree within ATOL = 1e-6, about eight times
    float32's spacing at 1 (1.2e-7); measured: 3e-8. The network is the toy MLP in fp32: under
    bf16 autocast the half-batch matrix products round differently from the whole batch's
    (weights 2e-5 apart after 10 steps, measured), and the UNet's zero-initialised output layer
    gives its other weights near-zero gradients in the first steps, whose signs AdamW (dividing
    by their RMS) turns into moves of a fraction of the learning rate (up to 7e-5, measured).
    """
    flags = dict(
        num_train_steps=10, batch_size=64, checkpoint_every=5, log_every=5, precision="fp32"
    )
    argv = ["train", "--config", "toy-moons", "--profile", "smoke"]
    argv += [f"--{k.replace('_', '-')}={v}" for k, v in flags.items()]
    argv += ["--device", "cpu", "--threads", "1", "--no-progress", "--out", str(tmp_path / "two")]
    env = {
        **os.environ,
        "DDPM_TUTORIAL_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    proc = subprocess.run(
        [*torchrun, "--nproc-per-node", "2", "-m", "ddpm_tutorial", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"checkpoint"') == 1, "rank 0 alone prints the summary"

    config = get_config("toy-moons", "smoke", **flags)
    one = run_training(config, tmp_path / "one", device="cpu", progress=False, command="test")
    two = json.loads((tmp_path / "two" / "model.json").read_text())
    assert two["training"]["world_size"] == 2 and one["training"]["world_size"] == 1
    assert two["training"]["global_batch_size"] == 64 == one["training"]["global_batch_size"]
    assert two["training"]["batch_size_per_process"] == 32
    assert two["training"]["steps"] == 10

    state_one = load_file(str(tmp_path / "one" / "checkpoint.safetensors"))
    state_two = load_file(str(tmp_path / "two" / "checkpoint.safetensors"))
    assert torch.equal(state_one["rng.generator"], state_two["rng.generator"]), "the same draws"
    diffs = {
        k: float((state_one[k] - state_two[k]).abs().max())
        for k in state_one
        if k.startswith(("model.", "ema."))
    }
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= ATOL, f"{worst} differs by {diffs[worst]:.2e} > {ATOL}"
    losses_one = [loss for _, loss in one["training"]["loss_curve"]]
    losses_two = [loss for _, loss in two["training"]["loss_curve"]]
    np.testing.assert_allclose(losses_two, losses_one, rtol=1e-6)

    # rank 0's checkpoint is the whole state: one process resumes it as if it were its own
    longer = dataclasses.replace(config, num_train_steps=12)
    run_training(longer, tmp_path / "two", resume=True, device="cpu", progress=False)
    run_training(longer, tmp_path / "one", resume=True, device="cpu", progress=False)
    a = load_file(str(tmp_path / "one" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= ATOL
