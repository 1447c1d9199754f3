"""Where and how big: the profile switch and the device.

``DDPM_TUTORIAL_PROFILE`` chooses the size of everything a chapter or a command trains:

* ``smoke``: continuous integration; tiny models and a handful of steps, so that a chapter runs
  in well under a minute on two CPU cores. Figures use the pretrained checkpoints.
* ``cpu``: a reader's laptop; small models trained for minutes.
* ``full``: a GPU; the full-size models and training runs.

The default is ``full`` when CUDA is available and ``cpu`` otherwise.
"""

from __future__ import annotations

import os

import torch

__all__ = ["PROFILES", "PROFILE_ENV", "get_profile", "default_device", "banner", "print_banner"]

PROFILE_ENV = "DDPM_TUTORIAL_PROFILE"
PROFILES = ("smoke", "cpu", "full")

_MEANING = {
    "smoke": "tiny models and a few training steps (a chapter runs in well under a minute); "
    "figures come from the pretrained checkpoints",
    "cpu": "small models trained for minutes on a CPU; figures come from the pretrained checkpoints",
    "full": "full-size models trained from scratch (tens of minutes on a GPU)",
}


def get_profile(profile: str | None = None) -> str:
    """The profile in force: ``profile`` if given, else ``$DDPM_TUTORIAL_PROFILE``, else the default.

    Raises:
        ValueError: for a name that is not ``smoke``, ``cpu`` or ``full``.
    """
    name = profile if profile is not None else os.environ.get(PROFILE_ENV, "").strip()
    if not name:
        return "full" if torch.cuda.is_available() else "cpu"
    if name not in PROFILES:
        source = "profile argument" if profile is not None else f"${PROFILE_ENV}"
        raise ValueError(
            f"unknown profile {name!r} (from the {source}); choose one of {', '.join(PROFILES)}"
        )
    return name


def default_device() -> torch.device:
    """The fastest device available: cuda, then Apple's mps, then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def banner(profile: str | None = None, device: torch.device | str | None = None) -> str:
    """One line that says the profile, the device and what that means for run time."""
    name = get_profile(profile)
    dev = torch.device(device) if device is not None else default_device()
    return f"ddpm_tutorial | profile: {name} | device: {dev} | {_MEANING[name]}"


def print_banner(profile: str | None = None, device: torch.device | str | None = None) -> str:
    """Print :func:`banner` and return the profile name."""
    print(banner(profile, device))
    return get_profile(profile)
