"""The text-to-image checkers accept the reference and name the usual mistakes."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial import checks
from ddpm_tutorial.data.captions import measure_attributes


def test_guidance_checker_accepts_the_books_convention(capsys):
    checks.check_guidance(lambda c, u, w: u + w * (c - u))
    assert "check_guidance passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda c, u, w: c + w * (c - u), "own convention"),
        (lambda c, u, w: c + w * (u - c), "wrong way"),
        (lambda c, u, w: w * c, "unconditional prediction is missing"),
    ],
)
def test_guidance_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_guidance(wrong)


def test_caption_dropout_checker_accepts_independent_coin_flips(capsys):
    checks.check_caption_dropout(lambda n, p, g: torch.rand(n, generator=g) >= p)
    assert "passed" in capsys.readouterr().out


def test_caption_dropout_checker_catches_the_inverted_mask():
    with pytest.raises(AssertionError, match="dropped examples instead"):
        checks.check_caption_dropout(lambda n, p, g: torch.rand(n, generator=g) < p)


def test_caption_dropout_checker_catches_blocks_and_wrong_types():
    def blocks(n, p, g):
        keep = torch.ones(n, dtype=torch.bool)
        keep[: int(p * n)] = False
        return keep

    with pytest.raises(AssertionError, match="long runs"):
        checks.check_caption_dropout(blocks)
    with pytest.raises(AssertionError, match="bool tensor"):
        checks.check_caption_dropout(lambda n, p, g: (torch.rand(n, generator=g) >= p).float())


def test_stroke_width_checker_accepts_the_package_and_names_half_the_width(capsys):
    checks.check_stroke_width(lambda x: measure_attributes(x).stroke_width)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="half the width"):
        checks.check_stroke_width(lambda x: measure_attributes(x).stroke_width / 2)


def test_a_checker_reports_an_exception_in_the_readers_code():
    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):
        checks.check_stroke_width(lambda x: 1 / 0)
