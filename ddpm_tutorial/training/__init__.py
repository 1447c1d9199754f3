"""Training: the one loop of the denoisers, one ``fit`` for every other network, and their parts.

* :mod:`~ddpm_tutorial.training.loop`: :func:`train_denoiser` (Algorithm 1 of Ho et al. 2020);
* :mod:`~ddpm_tutorial.training.fit`: :func:`fit`, AdamW under a one-cycle schedule;
* :mod:`~ddpm_tutorial.training.lr`: the learning-rate schedules both use;
* :mod:`~ddpm_tutorial.training.ema`: the exponential moving average of the weights;
* :mod:`~ddpm_tutorial.training.monitor`: the loss, watched without stalling the device;
* :mod:`~ddpm_tutorial.training.state`: resumable state on disk;
* :mod:`~ddpm_tutorial.training.distributed`: several processes under ``torchrun``.
"""

from .distributed import World, current_world, init_from_environment
from .ema import EMA
from .fit import fit
from .loop import TrainState, evaluate_loss, train_denoiser
from .lr import one_cycle, warmup_lr
from .monitor import NonFiniteLossError
from .state import load_training_state, save_training_state

__all__ = [
    "EMA",
    "NonFiniteLossError",
    "TrainState",
    "World",
    "current_world",
    "evaluate_loss",
    "fit",
    "init_from_environment",
    "load_training_state",
    "one_cycle",
    "save_training_state",
    "train_denoiser",
    "warmup_lr",
]
