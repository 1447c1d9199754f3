"""Systems of several networks: assembled by name, loaded whole, sampled through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddpm_tutorial.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from ddpm_tutorial.cli import main
from ddpm_tutorial.data.captions import caption_vocabulary
from ddpm_tutorial.models import (
    DiffusionPrior,
    PriorConfig,
    SuperResUNet,
    SuperResUNetConfig,
    TextUNet,
    TextUNetConfig,
    UNet,
    UNetConfig,
)
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.systems import (
    ImagenSystem,
    UnCLIPSystem,
    find_system_card,
    load_system,
    write_system_card,
)

LOW = dict(
    image_size=14,
    base_channels=8,
    channel_mults=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(7,),
    num_heads=2,
)


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Untrained tiny parts of both systems, in a checkpoint folder of their own."""
    monkeypatch.setenv("DDPM_TUTORIAL_DATA", str(tmp_path))
    folder = tmp_path / "checkpoints"
    sched = NoiseSchedule.linear(100)
    torch.manual_seed(0)
    base = TextUNet(
        TextUNetConfig(
            **LOW, vocabulary=caption_vocabulary(), text_dim=16, text_layers=1, text_heads=2
        )
    )
    sr = SuperResUNet(
        SuperResUNetConfig(
            base_channels=8,
            channel_mults=(1, 2),
            num_res_blocks=1,
            num_heads=2,
            attention_resolutions=(),
        )
    )
    decoder = UNet(UNetConfig(**LOW, cond_dim=64))
    prior = DiffusionPrior(PriorConfig(hidden_dim=16, num_layers=1, time_dim=8))
    for name, model, schedule, conditioning in (
        ("t-base", base, sched, "text"),
        ("t-sr", sr, sched, "low-res"),
        ("t-decoder", decoder, sched, "clip-image"),
        ("t-prior", prior, NoiseSchedule.cosine(1000), "text"),
    ):
        save_checkpoint(
            model.eval(),
            folder / f"{name}.safetensors",
            schedule=schedule,
            card={"conditioning": conditioning, "sampling": {"sampler": "ddim", "steps": 4}},
        )
    clip = load_checkpoint("mnist-clip")
    save_checkpoint(clip.model, folder / "t-clip.safetensors", schedule=None)
    return folder


def test_assemble_load_and_sample_both_systems(parts):
    sampling = {"steps": 3, "upsampler_steps": 2, "prior_steps": 3, "guidance_scale": 2.0}
    card = write_system_card(
        "t-imagen", "imagen", {"base": "t-base", "upsampler": "t-sr"}, dest=parts, sampling=sampling
    )
    assert card["parts"]["base"]["kind"] == "text-unet"
    write_system_card(
        "t-unclip",
        "unclip",
        {"clip": "t-clip", "prior": "t-prior", "decoder": "t-decoder", "upsampler": "t-sr"},
        dest=parts,
        sampling=sampling,
    )
    registry = json.loads((parts.parent / "registry.json").read_text())
    assert registry["systems"]["t-unclip"]["parts"]["prior"] == "t-prior"
    imagen = load_system("t-imagen")
    assert isinstance(imagen, ImagenSystem) and imagen.num_parameters > 0
    high, low = imagen.sample("a handwritten 7", 3, return_low_res=True)
    assert high.shape == (3, 1, 28, 28) and low.shape == (3, 1, 14, 14)
    again = imagen.sample("a handwritten 7", 3)
    assert torch.equal(high, again)  # seeded
    unclip = load_system("t-unclip")
    assert isinstance(unclip, UnCLIPSystem)
    z = unclip.image_embeddings(["a handwritten 1", "a handwritten 2"], 2)
    assert z.shape == (2, 64) and z.norm(dim=1) == pytest.approx(torch.full((2,), 8.0), abs=1e-4)
    assert unclip.sample("a handwritten 7", 2).shape == (2, 1, 28, 28)
    assert unclip.variations(torch.zeros(2, 1, 28, 28), 3).shape == (2, 3, 1, 28, 28)


def test_cli_samples_a_system_and_refuses_what_does_not_apply(parts, tmp_path, capsys):
    write_system_card(
        "t-imagen",
        "imagen",
        {"base": "t-base", "upsampler": "t-sr"},
        dest=parts,
        sampling={"steps": 2, "upsampler_steps": 2},
    )
    out = tmp_path / "s.npy"
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                "t-imagen",
                "--prompt",
                "a handwritten 7",
                "--num-samples",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert np.load(out).shape == (3, 1, 28, 28)
    assert (
        main(["sample", "--checkpoint", "t-imagen", "--num-samples", "3", "--out", str(out)]) == 2
    )
    assert "--prompt" in capsys.readouterr().err
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                "t-imagen",
                "--prompt",
                "a 7",
                "--label",
                "7",
                "--num-samples",
                "3",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    # a part of a cascade is not sampled on its own
    assert main(["sample", "--checkpoint", "t-sr", "--num-samples", "3", "--out", str(out)]) == 2
    assert "part of a cascade" in capsys.readouterr().err


def test_a_changed_part_or_a_system_loaded_as_one_checkpoint_is_refused(parts):
    write_system_card("t-imagen", "imagen", {"base": "t-base", "upsampler": "t-sr"}, dest=parts)
    assert find_system_card("t-imagen") is not None and find_system_card("t-base") is None
    with pytest.raises(CheckpointError, match="system of several networks"):
        load_checkpoint("t-imagen")
    save_checkpoint(
        SuperResUNet(
            SuperResUNetConfig(
                base_channels=8,
                channel_mults=(1, 2),
                num_res_blocks=1,
                num_heads=2,
                attention_resolutions=(),
            )
        ),
        parts / "t-sr.safetensors",
        schedule=NoiseSchedule.linear(100),
        card={"conditioning": "low-res", "note": "retrained"},
    )
    with pytest.raises(CheckpointError, match="assembled with 't-sr'"):
        load_system("t-imagen")
    with pytest.raises(ValueError, match="needs the part"):
        write_system_card("x", "unclip", {"clip": "t-clip"}, dest=parts)
    with pytest.raises(FileNotFoundError, match="not a system"):
        load_system("t-base")
