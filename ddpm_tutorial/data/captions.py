"""Captions for MNIST digits: image-text pairs that say more than the class label.

The real text-to-image systems train on billions of image-caption pairs scraped from the web
(LAION-5B holds 5.85 billion). Here every digit gets captions written from templates, and the
captions carry two attributes *measured from the image itself*, so that a prompt can steer
more than the class:

* **stroke thickness**: the mean stroke width in pixels, ``2 * ink_area / perimeter`` (a band
  of width w and length l has area w*l and perimeter about 2l);
* **slant**: the horizontal shear of the ink, ``mu11 / mu02`` from the ink's second central
  moments (x to the right, y up): positive when the top leans right.

Each attribute is put into words only where it is distinctive: the thinnest and thickest
third of the training digits are "thin" and "thick", and the quarter that leans most to the
right (left) is "slanted" ("leaning left"). A typical caption: "a thick, slanted three".

:func:`make_captions` writes ``captions_per_image`` seeded captions per digit;
:func:`prompt_digit` reads the digit back from any prompt (numeral or word), which is how
samples are judged against their prompts.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DIGIT_WORDS",
    "CaptionThresholds",
    "DigitAttributes",
    "caption_split",
    "caption_vocabulary",
    "describe_digit",
    "make_captions",
    "measure_attributes",
    "prompt_digit",
    "PARAPHRASE_TEMPLATES",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: the templates of the training captions; {d} is the numeral, {w} the word, {a} adjectives.
TEMPLATES = (
    "a handwritten {d}",
    "a {a}handwritten {d}",
    "the digit {w}",
    "the {a}digit {w}",
    "{w}",
    "{a}{w}",
    "a {a}{d}",
    "the number {w}",
    "a {a}number {w}",
    "an image of a {a}{w}",
    "a photo of the {a}digit {d}",
)

#: prompts of the chapter's paraphrase test: none of them is a training caption, and some use
#: words no training caption contains ("numeral", "sketch", "written", "by", "hand").
PARAPHRASE_TEMPLATES = (
    "the numeral {d}",
    "a sketch of a {w}",
    "{w}, written by hand",
    "digit {d} in ink",
    "a picture showing the number {w}",
)

THICKNESS_WORDS = ("thin", "thick")
SLANT_WORDS = ("leaning left", "slanted")


@dataclass(frozen=True)
class DigitAttributes:
    """Attributes measured from digits, each of shape (N,), float32.

    Attributes:
        stroke_width: mean stroke width in pixels, ``2 * ink_area / perimeter``.
        slant: horizontal shear ``mu11 / mu02`` of the ink (positive: the top leans right).
        ink: the ink area in pixels (pixels brighter than mid-grey).
    """

    stroke_width: Tensor
    slant: Tensor
    ink: Tensor


def measure_attributes(images: Tensor, threshold: float = 0.0) -> DigitAttributes:
    """Measure stroke width and slant of digits.

    Args:
        images: shape (N, 1, H, W) in [-1, 1], ink bright (MNIST's convention).
        threshold: a pixel is ink where its value is above this.

    Returns:
        A :class:`DigitAttributes`; an image with no ink gets width 0 and slant 0.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (N, 1, H, W); got {tuple(images.shape)}")
    N, _, H, W = images.shape
    ink = (images > threshold).float()  # (N, 1, H, W)
    area = ink.sum(dim=(1, 2, 3))
    # perimeter: ink pixels' edges that touch background (4-neighbourhood, zero padding)
    padded = F.pad(ink, (1, 1, 1, 1))
    center = padded[:, :, 1:-1, 1:-1]
    edges = sum(
        center * (1 - padded[:, :, 1 + dy : 1 + dy + H, 1 + dx : 1 + dx + W])
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))
    )
    perimeter = edges.sum(dim=(1, 2, 3))  # type: ignore[union-attr]
    width = torch.where(perimeter > 0, 2 * area / perimeter.clamp_min(1), torch.zeros_like(area))
    # slant from the intensity-weighted second moments; y points up
    weight = ((images + 1) / 2).clamp(0, 1)[:, 0]  # (N, H, W), ink = 1
    ys = -torch.arange(H, dtype=torch.float32)[:, None].expand(H, W)
    xs = torch.arange(W, dtype=torch.float32)[None, :].expand(H, W)
    mass = weight.sum(dim=(1, 2)).clamp_min(1e-6)
    x_mean = (weight * xs).sum(dim=(1, 2)) / mass
    y_mean = (weight * ys).sum(dim=(1, 2)) / mass
    dx = xs - x_mean[:, None, None]
    dy = ys - y_mean[:, None, None]
    mu11 = (weight * dx * dy).sum(dim=(1, 2)) / mass
    mu02 = (weight * dy * dy).sum(dim=(1, 2)) / mass
    slant = torch.where(mu02 > 1e-6, mu11 / mu02.clamp_min(1e-6), torch.zeros_like(mu11))
    return DigitAttributes(stroke_width=width, slant=slant, ink=area)


@dataclass(frozen=True)
class CaptionThresholds:
    """Where an attribute becomes worth a word, fitted on the training digits.

    A digit is "thin" below ``thin`` and "thick" above ``thick`` (stroke width, pixels),
    "leaning left" below ``left`` and "slanted" above ``right`` (slant).
    """

    thin: float
    thick: float
    left: float
    right: float

    @classmethod
    def fit(cls, attributes: DigitAttributes) -> CaptionThresholds:
        """Tertiles of stroke width; the outer quarters of slant."""
        w, s = attributes.stroke_width, attributes.slant
        return cls(
            thin=float(w.quantile(1 / 3)),
            thick=float(w.quantile(2 / 3)),
            left=float(s.quantile(0.25)),
            right=float(s.quantile(0.75)),
        )

    def words(self, stroke_width: float, slant: float) -> list[str]:
        """The attribute words that describe one digit (possibly none)."""
        out = []
        if stroke_width < self.thin:
            out.append("thin")
        elif stroke_width > self.thick:
            out.append("thick")
        if slant > self.right:
            out.append("slanted")
        elif slant < self.left:
            out.append("leaning left")
        return out


def describe_digit(
    digit: int, words: Sequence[str], rng: random.Random, *, mention_prob: float = 0.75
) -> str:
    """One caption of a digit: a random template, each attribute word kept with ``mention_prob``."""
    if not 0 <= digit <= 9:
        raise ValueError(f"digit must lie in 0..9; got {digit}")
    kept = [w for w in words if rng.random() < mention_prob]
    templates = [t for t in TEMPLATES if ("{a}" in t) == bool(kept)]
    template = rng.choice(templates)
    adjectives = ", ".join(kept) + " " if kept else ""
    return template.format(d=digit, w=DIGIT_WORDS[digit], a=adjectives)


def make_captions(
    labels: Tensor,
    attributes: DigitAttributes,
    thresholds: CaptionThresholds,
    *,
    captions_per_image: int = 4,
    seed: int = 0,
    mention_prob: float = 0.75,
) -> list[list[str]]:
    """``captions_per_image`` captions for each digit, deterministic given ``seed``.

    Args:
        labels: the digits, int64, shape (N,).
        attributes: their measured attributes (:func:`measure_attributes`).
        thresholds: where attributes become words (:meth:`CaptionThresholds.fit`).

    Returns:
        A list of N lists of ``captions_per_image`` strings.
    """
    if captions_per_image < 1:
        raise ValueError(f"captions_per_image must be >= 1; got {captions_per_image}")
    if labels.shape != attributes.stroke_width.shape:
        raise ValueError(
            f"{labels.shape[0]} labels but attributes of {attributes.stroke_width.shape[0]} digits"
        )
    rng = random.Random(seed)
    out = []
    for digit, width, slant in zip(
        labels.tolist(), attributes.stroke_width.tolist(), attributes.slant.tolist()
    ):
        words = thresholds.words(width, slant)
        out.append(
            [
                describe_digit(digit, words, rng, mention_prob=mention_prob)
                for _ in range(captions_per_image)
            ]
        )
    return out


def caption_split(
    images: Tensor,
    labels: Tensor,
    train_images: Tensor,
    *,
    split: str,
    captions_per_image: int = 4,
    seed: int = 0,
) -> tuple[list[list[str]], CaptionThresholds]:
    """The captions of one split, as every part of the book writes them.

    The attribute thresholds are always fitted on ``train_images`` (the training digits), and
    the held-out split's captions use ``seed + 10_000``, so that a split's captions are the
    same wherever they are written (Part II's training data, Part IV's CLIP).
    """
    thresholds = CaptionThresholds.fit(measure_attributes(train_images))
    captions = make_captions(
        labels,
        measure_attributes(images),
        thresholds,
        captions_per_image=captions_per_image,
        seed=seed if split == "train" else seed + 10_000,
    )
    return captions, thresholds


def caption_vocabulary() -> tuple[str, ...]:
    """Every word a training caption can contain, sorted (the from-scratch tokenizer's vocabulary)."""
    words: set[str] = set()
    for template in TEMPLATES:
        words.update(re.findall(r"[a-z]+", template.replace("{a}", "").replace("{w}", "")))
    words.update(DIGIT_WORDS)
    words.update(str(d) for d in range(10))
    for phrase in (*THICKNESS_WORDS, *SLANT_WORDS):
        words.update(phrase.split())
    words.discard("d")
    return tuple(sorted(words))


_DIGIT_PATTERN = re.compile(r"\b(" + "|".join(DIGIT_WORDS) + r"|[0-9])\b")


def prompt_digit(prompt: str) -> int | None:
    """The digit a prompt asks for (the first numeral or digit word), or None if it names none.

    >>> prompt_digit("a thick, slanted three"), prompt_digit("the numeral 7"), prompt_digit("ink")
    (3, 7, None)
    """
    match = _DIGIT_PATTERN.search(prompt.lower())
    if match is None:
        return None
    token = match.group(1)
    return int(token) if token.isdigit() else DIGIT_WORDS.index(token)
