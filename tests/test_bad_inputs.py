"""Wrong input fails loudly, with a sentence that names the problem.

Every case must raise ValueError, TypeError or FileNotFoundError (or a subclass) whose message
says what is wrong: no IndexError, no bare RuntimeError from deep inside torch, no traceback
from the command line (there: exit status 2 and one line, ``error: ...``, on stderr).
"""

from __future__ import annotations

import re

import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, save_checkpoint
from ddpm_tutorial.cli import main
from ddpm_tutorial.data import load_mnist, make_toy_data
from ddpm_tutorial.forward_process import add_noise
from ddpm_tutorial.losses import noise_prediction_loss
from ddpm_tutorial.models import MLPDenoiser, UNet, UNetConfig, build_model
from ddpm_tutorial.reverse_process import (
    ddim_step,
    ddpm_step,
    guided_noise,
    sample_ddim,
    sample_ddpm,
)
from ddpm_tutorial.runs import get_config
from ddpm_tutorial.runtime import get_profile
from ddpm_tutorial.schedules import NoiseSchedule, gather_at
from ddpm_tutorial.systems.pipeline import draw_samples
from ddpm_tutorial.training.ema import EMA

SMOKE_UNET = dict(
    base_channels=8,
    channel_mults=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(14,),
    num_heads=2,
)
S = NoiseSchedule.linear(1000)
X = torch.zeros(4, 1, 28, 28)
T4 = torch.full((4,), 10, dtype=torch.long)


def unet(**fields) -> UNet:
    return UNet(UNetConfig(**{**SMOKE_UNET, **fields}))


def zero_model(x_t, t, cond=None):
    return torch.zeros_like(x_t)


def _checkpoint(tmp_path, conditioning="none"):
    path = tmp_path / "ckpt" / "model.safetensors"
    model = unet(num_classes=10) if conditioning == "class" else unet()
    save_checkpoint(model, path, schedule=S, card={"conditioning": conditioning})
    return path


def _corrupted(tmp_path):
    path = _checkpoint(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-8:] = b"\x00\x01\x02\x03\x04\x05\x06\x07"
    path.write_bytes(bytes(raw))
    return path


# (id, call(tmp_path, monkeypatch), expected exception, message pattern)
API_CASES = [
    # shapes and steps
    (
        "noise shape differs from x0",
        lambda p, m: add_noise(X, T4, torch.zeros(4, 1, 28, 27), S),
        ValueError,
        r"noise shape \(4, 1, 28, 27\) != x0 shape \(4, 1, 28, 28\)",
    ),
    (
        "t equal to T",
        lambda p, m: add_noise(X, torch.full((4,), 1000), X, S),
        ValueError,
        r"step t = 1000 is out of range: steps are 0-based in \[0, 1000\)",
    ),
    (
        "t equal to -1",
        lambda p, m: add_noise(X, torch.full((4,), -1), X, S),
        ValueError,
        r"step t = -1 is out of range",
    ),
    (
        "float t",
        lambda p, m: add_noise(X, torch.full((4,), 0.5), X, S),
        TypeError,
        r"integer steps \(torch.int64\)",
    ),
    (
        "t as a python int",
        lambda p, m: add_noise(X, 10, X, S),
        TypeError,
        "t must be a torch.Tensor",
    ),
    (
        "t batch differs from x batch",
        lambda p, m: add_noise(X, T4[:3], X, S),
        ValueError,
        "t holds 3 steps but the batch has 4 examples",
    ),
    (
        "t of shape (B, 1)",
        lambda p, m: add_noise(X, T4[:, None], X, S),
        ValueError,
        r"t must have shape \(B,\)",
    ),
    (
        "integer images",
        lambda p, m: add_noise(X.long(), T4, X.long(), S),
        TypeError,
        "floating-point",
    ),
    (
        "gather_at with a step out of range",
        lambda p, m: gather_at(S.alpha_bars, torch.tensor([1000]), like=X[:1]),
        ValueError,
        "out of range",
    ),
    (
        "a schedule that is not a NoiseSchedule",
        lambda p, m: add_noise(X, T4, X, S.betas),
        TypeError,
        "schedule must be a NoiseSchedule",
    ),
    # schedules
    (
        "a beta outside (0, 1)",
        lambda p, m: NoiseSchedule.from_betas(torch.tensor([0.1, 1.0, 0.2])),
        ValueError,
        r"every beta must lie in \(0, 1\); betas\[1\] = 1 does not",
    ),
    (
        "a zero beta",
        lambda p, m: NoiseSchedule.from_betas(torch.tensor([0.0, 0.1])),
        ValueError,
        r"betas\[0\] = 0",
    ),
    (
        "2-D betas",
        lambda p, m: NoiseSchedule.from_betas(torch.full((2, 3), 0.1)),
        ValueError,
        r"betas must be 1-D and non-empty; got shape \(2, 3\)",
    ),
    (
        "integer betas",
        lambda p, m: NoiseSchedule.from_betas(torch.tensor([1, 2])),
        TypeError,
        "floating-point",
    ),
    (
        "zero diffusion steps",
        lambda p, m: NoiseSchedule.linear(0),
        ValueError,
        "num_steps must be at least 1; got 0",
    ),
    (
        "float diffusion steps",
        lambda p, m: NoiseSchedule.cosine(10.0),
        TypeError,
        "num_steps must be an int",
    ),
    (
        "unknown schedule name",
        lambda p, m: NoiseSchedule.from_name("quadratic"),
        ValueError,
        "unknown schedule 'quadratic'; choose one of linear, cosine, sigmoid",
    ),
    ("sigmoid with tau 0", lambda p, m: NoiseSchedule.sigmoid(10, tau=0.0), ValueError, "tau > 0"),
    # samplers
    (
        "zero DDIM steps",
        lambda p, m: sample_ddim(zero_model, S, (2, 2), num_steps=0),
        ValueError,
        r"num_steps must lie in \[1, 1000\]",
    ),
    (
        "more DDIM steps than T",
        lambda p, m: sample_ddim(zero_model, S, (2, 2), num_steps=1001),
        ValueError,
        r"num_steps must lie in \[1, 1000\].*got 1001",
    ),
    (
        "eta above 1",
        lambda p, m: sample_ddim(zero_model, S, (2, 2), num_steps=2, eta=1.5),
        ValueError,
        r"eta must lie in \[0, 1\]; got 1.5",
    ),
    (
        "eta below 0",
        lambda p, m: ddim_step(X, 10, 5, X, S, eta=-0.1),
        ValueError,
        r"eta must lie in \[0, 1\]",
    ),
    (
        "prev_step not below step",
        lambda p, m: ddim_step(X, 10, 10, X, S),
        ValueError,
        r"prev_step must lie in \[-1, step=10\)",
    ),
    (
        "DDPM step equal to T",
        lambda p, m: ddpm_step(X, 1000, X, S),
        ValueError,
        r"step 1000 is out of range",
    ),
    (
        "DDPM step as a tensor",
        lambda p, m: ddpm_step(X, torch.tensor(5), X, S),
        TypeError,
        "step must be a Python int",
    ),
    (
        "noise of the wrong shape to a DDPM step",
        lambda p, m: ddpm_step(X, 10, X, S, noise=torch.zeros(4, 1, 28, 27)),
        ValueError,
        "noise shape",
    ),
    (
        "noise of the wrong shape to a DDIM step",
        lambda p, m: ddim_step(X, 10, 5, X, S, eta=1.0, noise=torch.zeros(4, 1, 28, 27)),
        ValueError,
        "noise shape",
    ),
    (
        "unknown DDPM variance",
        lambda p, m: sample_ddpm(zero_model, S, (2, 2), variance="fixed"),
        ValueError,
        "variance must be 'beta' or 'posterior'; got 'fixed'",
    ),
    (
        "guidance scale without a condition",
        lambda p, m: sample_ddim(zero_model, S, (2, 2), guidance_scale=3.0),
        ValueError,
        "guidance_scale = 3.0 needs a condition",
    ),
    (
        "negative guidance scale",
        lambda p, m: sample_ddpm(zero_model, S, (2, 2), cond=torch.ones(2), guidance_scale=-1.0),
        ValueError,
        "guidance_scale must be >= 0",
    ),
    (
        "sample shape without a batch dimension",
        lambda p, m: sample_ddpm(zero_model, S, (4,)),
        ValueError,
        r"shape must be \(B, C, H, W\) or \(B, D\)",
    ),
    (
        "x_T of the wrong shape",
        lambda p, m: sample_ddim(zero_model, S, (2, 2), x_T=torch.zeros(3, 2)),
        ValueError,
        r"x_T shape \(3, 2\) != requested shape \(2, 2\)",
    ),
    (
        "a model that returns the wrong shape",
        lambda p, m: guided_noise(lambda x, t: x[:, :1], torch.zeros(2, 3), T4[:2]),
        ValueError,
        r"a noise predictor must return the shape of x_t, \(2, 3\)",
    ),
    (
        "trajectory_every 0",
        lambda p, m: sample_ddim(zero_model, S, (2, 2), return_trajectory=True, trajectory_every=0),
        ValueError,
        "trajectory_every must be >= 1",
    ),
    # networks
    (
        "wrong channel count to the UNet",
        lambda p, m: unet()(torch.zeros(2, 3, 28, 28), T4[:2]),
        ValueError,
        r"UNet expects x_t of shape \(B, 1, H, W\); got \(2, 3, 28, 28\)",
    ),
    (
        "wrong image size to the UNet",
        lambda p, m: unet()(torch.zeros(2, 1, 32, 32), T4[:2]),
        ValueError,
        "UNet was built for 28x28 images; got 32x32",
    ),
    (
        "float64 images to a float32 UNet",
        lambda p, m: unet()(torch.zeros(2, 1, 28, 28, dtype=torch.float64), T4[:2]),
        TypeError,
        "dtype",
    ),
    (
        "t batch differs from the UNet's input",
        lambda p, m: unet()(X, T4[:3]),
        ValueError,
        r"t must be a tensor of shape \(4,\)",
    ),
    (
        "a condition for an unconditional UNet",
        lambda p, m: unet()(X, T4, torch.zeros(4, dtype=torch.long)),
        ValueError,
        "this UNet is unconditional",
    ),
    (
        "a label outside the classes",
        lambda p, m: unet(num_classes=10)(X, T4, torch.tensor([0, 1, 2, 10])),
        ValueError,
        r"labels must lie in \[0, 10\)",
    ),
    (
        "float labels",
        lambda p, m: unet(num_classes=10)(X, T4, torch.zeros(4)),
        ValueError,
        "labels must be int64",
    ),
    (
        "labels as a list in a dict",
        lambda p, m: unet(num_classes=10)(X, T4, {"labels": [0, 1, 2, 3]}),
        TypeError,
        "Tensor",
    ),
    (
        "an unknown condition name",
        lambda p, m: unet(num_classes=10)(X, T4, {"text": torch.zeros(4)}),
        ValueError,
        r"unexpected condition\(s\) \['text'\]",
    ),
    (
        "a cond_mask that is not bool",
        lambda p, m: unet(num_classes=10)(X, T4, T4 % 10, cond_mask=torch.ones(4)),
        ValueError,
        "cond_mask must be a bool tensor",
    ),
    (
        "context of the wrong width",
        lambda p, m: unet(context_dim=8)(X, T4, torch.zeros(4, 3, 5)),
        ValueError,
        r"context must have shape \(B, L, 8\)",
    ),
    (
        "UNet channels that do not divide into groups",
        lambda p, m: UNetConfig(base_channels=12, num_groups=8),
        ValueError,
        "must be divisible by num_groups=8",
    ),
    (
        "an image size that cannot be halved",
        lambda p, m: UNetConfig(image_size=27),
        ValueError,
        "cannot be halved",
    ),
    (
        "wrong point dimension to the MLP",
        lambda p, m: MLPDenoiser()(torch.zeros(4, 3), T4),
        ValueError,
        r"MLPDenoiser expects x_t of shape \(B, 2\)",
    ),
    (
        "a condition for the MLP",
        lambda p, m: MLPDenoiser()(torch.zeros(4, 2), T4, torch.zeros(4)),
        ValueError,
        "MLPDenoiser is unconditional",
    ),
    (
        "unknown model kind",
        lambda p, m: build_model("transformer"),
        ValueError,
        "unknown model kind 'transformer'",
    ),
    (
        "unknown network field",
        lambda p, m: build_model("unet", {"width": 3}),
        ValueError,
        r"unknown field\(s\) \['width'\]",
    ),
    # training and configs
    (
        "unknown profile argument",
        lambda p, m: get_profile("huge"),
        ValueError,
        "unknown profile 'huge' \\(from the profile argument\\); choose one of smoke, cpu, full",
    ),
    (
        "unknown profile in the environment",
        lambda p, m: (m.setenv("DDPM_TUTORIAL_PROFILE", "huge"), get_profile()),
        ValueError,
        r"unknown profile 'huge' \(from the \$DDPM_TUTORIAL_PROFILE\)",
    ),
    (
        "unknown config",
        lambda p, m: get_config("cifar", "smoke"),
        ValueError,
        "unknown config 'cifar'; choose one of mnist, mnist-class",
    ),
    (
        "unknown config field",
        lambda p, m: get_config("mnist", "smoke", epochs=3),
        ValueError,
        r"unknown config field\(s\) \['epochs'\]",
    ),
    (
        "condition dropout above 1",
        lambda p, m: noise_prediction_loss(zero_model, X, S, cond=T4, cond_drop_prob=2.0),
        ValueError,
        r"cond_drop_prob must lie in \[0, 1\]",
    ),
    (
        "EMA decay of 1",
        lambda p, m: EMA(torch.nn.Linear(1, 1), decay=1.0),
        ValueError,
        r"EMA decay must lie in \[0, 1\)",
    ),
    # data
    (
        "unknown MNIST split",
        lambda p, m: load_mnist("val"),
        ValueError,
        "split must be 'train', 'test' or 'all'; got 'val'",
    ),
    (
        "unknown MNIST source",
        lambda p, m: load_mnist("train", source="kaggle"),
        ValueError,
        "source must be one of",
    ),
    (
        "torchvision MNIST missing offline",
        lambda p, m: load_mnist("train", root=p, source="torchvision", download=False),
        FileNotFoundError,
        "torchvision's MNIST is not in",
    ),
    (
        "unknown toy dataset",
        lambda p, m: make_toy_data("spiral", 10),
        ValueError,
        "unknown toy dataset 'spiral'",
    ),
    ("zero toy points", lambda p, m: make_toy_data("moons", 0), ValueError, "n must be >= 1"),
    # checkpoints and sampling from them
    (
        "missing checkpoint",
        lambda p, m: load_checkpoint(p / "nothing.safetensors"),
        FileNotFoundError,
        "does not exist",
    ),
    (
        "corrupted checkpoint",
        lambda p, m: load_checkpoint(_corrupted(p)),
        ValueError,
        "sha256 mismatch",
    ),
    (
        "checkpoint weights not ending in .safetensors",
        lambda p, m: save_checkpoint(unet(), p / "m.bin", schedule=S),
        ValueError,
        r"must end in \.safetensors",
    ),
    (
        "zero samples",
        lambda p, m: draw_samples(load_checkpoint(_checkpoint(p)), 0),
        ValueError,
        "num_samples",
    ),
    (
        "unknown sampler",
        lambda p, m: draw_samples(load_checkpoint(_checkpoint(p)), 2, sampler="rk4"),
        ValueError,
        "unknown sampler 'rk4' for 'model', a noise-predicting model; choose one of ddpm, ddim, "
        "euler, heun, dpm-solver++",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_wrong_input_to_the_api_raises_a_readable_error(
    tmp_path, monkeypatch, call, error, message
):
    with pytest.raises(error, match=message) as info:
        call(tmp_path, monkeypatch)
    assert isinstance(info.value, (ValueError, TypeError, FileNotFoundError))


# ---------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("cli-bad"))


def _sample(ckpt: str, *extra: str, out: str = "x.npy") -> list[str]:
    return ["sample", "--checkpoint", ckpt, "--num-samples", "2", "--out", out, *extra]


def _train(*extra: str, out: str = "run") -> list[str]:
    return ["train", "--config", "mnist", "--profile", "smoke", "--out", out, *extra]


# (id, argv built from (checkpoint, tmp_path), message pattern); {env} sets the profile variable
CLI_CASES = [
    (
        "label for an unconditional model",
        lambda c, p: _sample(c, "--label", "3"),
        "--label needs a class-conditional model",
    ),
    (
        "prompt for a model without text",
        lambda c, p: _sample(c, "--prompt", "a seven"),
        "--prompt needs a text-conditional",
    ),
    (
        "out with a wrong suffix",
        lambda c, p: _sample(c, out=str(p / "x.jpg")),
        r"--out must end in \.npy or \.png",
    ),
    ("missing checkpoint", lambda c, p: _sample(str(p / "none.safetensors")), "does not exist"),
    (
        "unknown bare checkpoint name",
        lambda c, p: _sample("no-such-model"),
        "no checkpoint named 'no-such-model'",
    ),
    ("corrupted checkpoint", lambda c, p: _sample(str(_corrupted(p))), "sha256 mismatch"),
    (
        "guidance without a condition",
        lambda c, p: _sample(c, "--guidance-scale", "3"),
        "--guidance-scale needs a condition",
    ),
    (
        "zero samples",
        lambda c, p: ["sample", "--checkpoint", c, "--num-samples", "0", "--out", "x.npy"],
        "--num-samples must be >= 1",
    ),
    ("unknown sampler", lambda c, p: _sample(c, "--sampler", "rk4"), "invalid choice: 'rk4'"),
    (
        "eta above 1",
        lambda c, p: _sample(c, "--eta", "1.5", "--steps", "2"),
        r"eta must lie in \[0, 1\]",
    ),
    (
        "zero DDIM steps",
        lambda c, p: _sample(c, "--steps", "0"),
        r"num_steps must lie in \[1, 1000\]",
    ),
    (
        "steps for the DDPM sampler",
        lambda c, p: _sample(c, "--sampler", "ddpm", "--steps", "5"),
        "--steps and --eta apply to the ddim sampler",
    ),
    (
        "unknown config",
        lambda c, p: ["train", "--config", "cifar", "--out", "run"],
        "invalid choice: 'cifar'",
    ),
    (
        "unknown profile argument",
        lambda c, p: ["train", "--config", "mnist", "--profile", "huge", "--out", "run"],
        "invalid choice: 'huge'",
    ),
    (
        "unknown profile in the environment",
        lambda c, p: ["train", "--config", "mnist", "--out", str(p / "run"), "{env}"],
        r"unknown profile 'huge' \(from the \$DDPM_TUTORIAL_PROFILE\)",
    ),
    (
        "a network field of another model",
        lambda c, p: _train("--model.hidden-dim", "16", out=str(p / "run")),
        "--model.hidden-dim is not a field of UNetConfig",
    ),
    (
        "unknown --model.field",
        lambda c, p: _train("--model.width", "16", out=str(p / "run")),
        "unrecognized arguments: --model.width",
    ),
    (
        "a non-integer batch size",
        lambda c, p: _train("--batch-size", "many", out=str(p / "run")),
        "argument --batch-size: invalid int value: 'many'",
    ),
    (
        "zero batch size",
        lambda c, p: _train("--batch-size", "0", out=str(p / "run")),
        "batch_size must be >= 1; got 0",
    ),
    (
        "unknown schedule",
        lambda c, p: _train("--schedule", "quadratic", out=str(p / "run")),
        "unknown schedule 'quadratic'",
    ),
    (
        "resume without a checkpoint",
        lambda c, p: _train("--resume", out=str(p / "empty")),
        "no resumable checkpoint",
    ),
    ("no subcommand", lambda c, p: [], "required: command"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_wrong_input_to_the_command_line_exits_2_with_one_error_line(
    cli_checkpoint, tmp_path, monkeypatch, capsys, argv, message
):
    monkeypatch.chdir(tmp_path)
    args = argv(str(cli_checkpoint), tmp_path)
    if "{env}" in args:
        args.remove("{env}")
        monkeypatch.setenv("DDPM_TUTORIAL_PROFILE", "huge")
    try:
        status = main(args)
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (
        f"expected one line 'error: ...'; got:\n{err}"
    )
    assert re.search(message, lines[0]), lines[0]
    assert not list(tmp_path.glob("*.npy")) and not list(tmp_path.glob("*.png"))
