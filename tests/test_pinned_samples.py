"""Every shipped checkpoint draws what it drew when its pin was written (tools/pin_samples.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import pin_samples  # noqa: E402


@pytest.mark.parametrize("name", sorted(pin_samples.PINS))
def test_a_shipped_checkpoint_draws_its_pinned_samples(name):
    problem = pin_samples.compare(name)
    assert problem is None, problem
