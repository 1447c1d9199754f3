"""Training runs: the config of a run, the named configs, the data a run needs, and the run.

* :mod:`~ddpm_tutorial.runs.config`: :class:`TrainConfig`;
* :mod:`~ddpm_tutorial.runs.configs`: :func:`get_config` by name and profile;
* :mod:`~ddpm_tutorial.runs.data`: :func:`load_training_data`;
* :mod:`~ddpm_tutorial.runs.reflow`: :func:`teacher_pairs`, the data of a reflow run (Part V);
* :mod:`~ddpm_tutorial.runs.run`: :func:`run_training`, which writes a checkpoint and its card.
"""

from .config import TrainConfig, config_from_json, config_to_dict
from .configs import CONFIG_NAMES, get_config
from .data import load_training_data
from .run import run_training

__all__ = [
    "CONFIG_NAMES",
    "TrainConfig",
    "config_from_json",
    "config_to_dict",
    "get_config",
    "load_training_data",
    "run_training",
]
