"""ddpm_tutorial: the companion package of the ddpm-tutorial book.

The names a reader of Part I needs are here at the top::

    from ddpm_tutorial import NoiseSchedule, add_noise, sample_ddim, load_checkpoint

The package is built in layers; each imports only from those above it in this list:

1. the core of Parts I, III and V, tensors in and tensors out: ``schedules``,
   ``forward_process``, ``parameterizations``, ``losses``, ``reverse_process`` (with ``runtime``
   and ``precision``: which device and which number format);
2. ``models/``: the networks and their configs (``text/``: their tokenizer and frozen encoder);
3. ``data/`` (MNIST, toy 2-D data, captions), ``training/`` (the one denoiser loop, one
   generic ``fit`` for every other network, EMA, resumable state) and ``checkpoints``;
4. ``metrics/``: FID and its features, the digit classifier that judges samples, CLIP score;
5. ``systems/``: one file per system of Part IV (latent diffusion, CLIP, unCLIP, DALL-E,
   Imagen, super-resolution) and the pipeline that samples any checkpoint by its card;
6. ``runs/`` (training configs by name and the runs that publish checkpoints) and the
   chapters' support: ``experiments/``, ``checks/`` (exercise checkers), ``plotting``;
7. ``cli/``: ``python -m ddpm_tutorial``.

The appendix "How the package is built" draws these layers and says where each chapter's code
lives; ``make lint`` checks that every import points down them.
"""

from ._version import __version__
from .checkpoints import load_checkpoint
from .forward_process import add_noise
from .losses import noise_prediction_loss
from .models.unet import UNet, UNetConfig
from .reverse_process import sample_ddim, sample_ddpm
from .schedules import NoiseSchedule

__all__ = [
    "NoiseSchedule",
    "UNet",
    "UNetConfig",
    "__version__",
    "add_noise",
    "load_checkpoint",
    "noise_prediction_loss",
    "sample_ddim",
    "sample_ddpm",
]
