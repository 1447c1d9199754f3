"""The benchmark suite's fixed parts: the reference networks are matched, one training step of
each contestant runs, and the tables render. No timing is asserted here or anywhere."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from ddpm_tutorial.models import UNet, count_parameters
from ddpm_tutorial.runs import get_config
from ddpm_tutorial.schedules import NoiseSchedule

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


def test_the_diffusers_unet_has_exactly_our_parameter_count(bench):
    pytest.importorskip("diffusers")
    ours = count_parameters(UNet(get_config("mnist", "cpu").model))
    assert count_parameters(bench.diffusers_matched_unet()) == ours


def test_the_lucidrains_unet_is_within_two_percent_of_our_parameter_count(bench):
    pytest.importorskip("denoising_diffusion_pytorch")
    ours = count_parameters(UNet(get_config("mnist", "cpu").model))
    assert abs(count_parameters(bench.lucidrains_matched_unet()) - ours) < 0.02 * ours


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_contestant_training_step_runs_and_stays_finite(bench, precision):
    torch.manual_seed(0)
    contestant = bench.Contestant("tiny", UNet(get_config("mnist", "smoke").model), precision, True)
    step = bench.make_train_step(contestant, NoiseSchedule.linear(50), "cpu")
    loss = step(torch.rand(4, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    weight = contestant.model.down[0].blocks[0].conv1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)


def test_the_tables_render_every_section(bench):
    row = dict(
        parameters=10,
        precision="bf16",
        channels_last=False,
        images_per_second=2.0,
        seconds_per_step=0.5,
        default_path_speedup=1.0,
    )
    results = {
        "machine": dict(cpu="x", cores=2, torch="2", device="cpu", torch_threads=2),
        "date": "today",
        "train": dict(batch_size=8, profile="cpu", device="cpu", models={"ours": row}),
        "quality": dict(
            budget_s=60.0,
            num_samples=10,
            sampler="DDIM 50",
            models={
                "ours": dict(
                    parameters=10,
                    train_steps=3,
                    seconds_per_step=0.1,
                    final_train_loss=0.5,
                    sampled={
                        "clip_x0": dict(
                            fid=dict(value=9.0, interval=[7.5, 9.25], floor_at_n=dict(mean=2.0)),
                            confident_fraction=0.5,
                            beyond_1_5=0.0,
                            seconds_per_100_samples=1.0,
                        )
                    },
                )
            },
        ),
        "chapters": {"book/a.ipynb": {"smoke": dict(seconds=1.0, passed=True)}},
    }
    text = bench.table(results)
    assert "| ours | 10 | bf16 | 2.0 | 0.5 | 1.0x |" in text
    assert (
        "| ours | 10 | 3 | 0.1 | 0.5 | clip_x0 | 9.00 [7.50, 9.25] (floor 2.00) | 0.5 | 0.0 | 1.0 |"
        in text
    )
    assert "| book/a.ipynb | 1.0 s |" in text
