"""Captions: attributes measured from the image, captions that say them, digits read back."""

from __future__ import annotations

import random

import pytest
import torch

from ddpm_tutorial.data.captions import (
    DIGIT_WORDS,
    PARAPHRASE_TEMPLATES,
    TEMPLATES,
    CaptionThresholds,
    caption_vocabulary,
    describe_digit,
    make_captions,
    measure_attributes,
    prompt_digit,
)
from ddpm_tutorial.data.mnist import load_mnist
from ddpm_tutorial.text.tokenizer import split_words


def bar(width: int, shear: float = 0.0, size: int = 28) -> torch.Tensor:
    """A vertical bar of ``width`` pixels, rows 4..23, its top shifted right by ``shear`` per row up."""
    img = -torch.ones(1, 1, size, size)
    for row in range(4, 24):
        offset = round(shear * (13.5 - row))  # rows above the middle move right
        left = 12 + offset
        img[0, 0, row, left : left + width] = 1.0
    return img


@pytest.mark.parametrize("width", [1, 2, 3, 5])
def test_stroke_width_of_a_bar_is_close_to_its_width(width):
    measured = float(measure_attributes(bar(width)).stroke_width)
    # 2 * area / perimeter = 2 * 20w / (2 * 20 + 2w) for a 20-row bar
    assert measured == pytest.approx(2 * 20 * width / (40 + 2 * width), rel=1e-5)


def test_thicker_strokes_measure_wider():
    widths = measure_attributes(torch.cat([bar(w) for w in (1, 2, 3, 4)])).stroke_width
    assert bool((widths.diff() > 0).all())


def test_slant_is_zero_for_an_upright_bar_and_follows_the_shear():
    slants = measure_attributes(torch.cat([bar(2, s) for s in (-0.4, 0.0, 0.4)])).slant
    assert abs(float(slants[1])) < 1e-6
    assert float(slants[0]) < -0.3 and float(slants[2]) > 0.3  # a top leaning right is positive


def test_an_empty_image_has_zero_width_and_slant():
    attrs = measure_attributes(-torch.ones(2, 1, 28, 28))
    assert attrs.stroke_width.tolist() == [0.0, 0.0] and attrs.slant.tolist() == [0.0, 0.0]


def test_measure_attributes_rejects_colour_images():
    with pytest.raises(ValueError, match="N, 1, H, W"):
        measure_attributes(torch.zeros(2, 3, 28, 28))


def test_thresholds_split_real_digits_into_thirds_and_quarters():
    attrs = measure_attributes(load_mnist("train", verbose=False).images)
    th = CaptionThresholds.fit(attrs)
    assert th.thin < th.thick and th.left < th.right
    thin = float((attrs.stroke_width < th.thin).float().mean())
    slanted = float((attrs.slant > th.right).float().mean())
    assert thin == pytest.approx(1 / 3, abs=0.01) and slanted == pytest.approx(0.25, abs=0.01)


def test_attribute_words_follow_the_thresholds():
    th = CaptionThresholds(thin=1.5, thick=2.5, left=-0.1, right=0.3)
    assert th.words(1.0, 0.5) == ["thin", "slanted"]
    assert th.words(3.0, -0.5) == ["thick", "leaning left"]
    assert th.words(2.0, 0.0) == []


def test_captions_are_deterministic_and_name_their_digit():
    data = load_mnist("train", verbose=False)
    images, labels = data.images[::200], data.labels[::200]
    attrs = measure_attributes(images)
    th = CaptionThresholds.fit(measure_attributes(data.images))
    a = make_captions(labels, attrs, th, captions_per_image=3, seed=1)
    b = make_captions(labels, attrs, th, captions_per_image=3, seed=1)
    assert a == b and len(a) == len(labels) and all(len(c) == 3 for c in a)
    for caps, digit in zip(a, labels.tolist()):
        assert all(prompt_digit(c) == digit for c in caps)


def test_a_thick_digit_is_never_called_thin():
    th = CaptionThresholds(thin=1.5, thick=2.5, left=-0.1, right=0.3)
    rng = random.Random(0)
    captions = [describe_digit(3, th.words(3.0, 0.0), rng) for _ in range(200)]
    assert not any("thin" in c for c in captions)
    assert 0.5 < sum("thick" in c for c in captions) / 200 < 0.95  # mentioned with prob 0.75


def test_every_caption_word_is_in_the_vocabulary():
    vocab = set(caption_vocabulary())
    rng = random.Random(0)
    for digit in range(10):
        for words in ([], ["thin", "slanted"], ["thick", "leaning left"]):
            for _ in range(30):
                assert (
                    set(split_words(describe_digit(digit, words, rng, mention_prob=1.0))) <= vocab
                )


def test_paraphrase_prompts_are_not_training_captions():
    captions = {
        t.format(d=d, w=DIGIT_WORDS[d], a=a)
        for t in TEMPLATES
        for d in range(10)
        for a in ("", "thin ", "thick, slanted ")
    }
    paraphrases = {t.format(d=d, w=DIGIT_WORDS[d]) for t in PARAPHRASE_TEMPLATES for d in range(10)}
    assert not captions & paraphrases
    assert {"numeral", "sketch"} - set(caption_vocabulary()) == {"numeral", "sketch"}


@pytest.mark.parametrize("digit", range(10))
def test_prompt_digit_reads_numerals_and_words(digit):
    assert prompt_digit(f"a thick {digit}") == digit
    assert prompt_digit(f"The digit {DIGIT_WORDS[digit].upper()}, slanted") == digit


def test_prompt_digit_is_none_without_a_digit_and_ignores_longer_numbers():
    assert prompt_digit("a handwritten letter") is None
    assert prompt_digit("someone wrote 12") is None
    assert prompt_digit("nine, not eight") == 9


def test_describe_digit_rejects_a_number_that_is_not_a_digit():
    with pytest.raises(ValueError, match="0..9"):
        describe_digit(10, [], random.Random(0))
