"""The profile switch and the device."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.runtime import PROFILE_ENV, banner, default_device, get_profile, print_banner


@pytest.fixture
def no_profile_env(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)


def test_default_profile_is_cpu_without_cuda(no_profile_env):
    assert not torch.cuda.is_available(), "this test describes the CPU-only machine"
    assert get_profile() == "cpu"


@pytest.mark.parametrize("value", ["smoke", "cpu", "full"])
def test_profile_comes_from_the_environment(monkeypatch, value):
    monkeypatch.setenv(PROFILE_ENV, value)
    assert get_profile() == value


def test_an_argument_beats_the_environment(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "full")
    assert get_profile("smoke") == "smoke"


def test_an_empty_environment_variable_means_the_default(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "  ")
    assert get_profile() == "cpu"


def test_default_device_is_the_cpu_here():
    assert default_device() == torch.device("cpu")


def test_banner_is_one_line_naming_profile_device_and_meaning(no_profile_env):
    line = banner("smoke", "cpu")
    assert "\n" not in line
    assert "profile: smoke" in line and "device: cpu" in line and "minute" in line


def test_print_banner_prints_the_banner_and_returns_the_profile(monkeypatch, capsys):
    monkeypatch.setenv(PROFILE_ENV, "smoke")
    assert print_banner() == "smoke"
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "profile: smoke" in out and f"device: {default_device()}" in out
