"""The measured experiments of Parts II and IV, as the chapters show them and the JSON records.

* :mod:`~ddpm_tutorial.experiments.prompt_following`: does a text-to-image model do what its
  prompt says (``evaluate-text``)?
* :mod:`~ddpm_tutorial.experiments.text_to_image`: the guidance trade-off; encoder against
  denoiser (4.1.1.2);
* :mod:`~ddpm_tutorial.experiments.systems`: Part IV's systems side by side, what the latent
  space saves, thresholding, unCLIP's priors;
* :mod:`~ddpm_tutorial.experiments.scoring`: the held-out prompts and the measures they share.

``python -m ddpm_tutorial experiment NAME`` runs one and writes its JSON to
``data/experiments/NAME.json``.
"""

from .prompt_following import text_report
from .scoring import heldout_prompts, load_experiment, load_generator, score_samples
from .systems import latent_savings, part4_comparison, thresholding, unclip_priors
from .text_to_image import encoder_vs_denoiser, guidance_tradeoff

__all__ = [
    "encoder_vs_denoiser",
    "guidance_tradeoff",
    "heldout_prompts",
    "latent_savings",
    "load_experiment",
    "load_generator",
    "part4_comparison",
    "score_samples",
    "text_report",
    "thresholding",
    "unclip_priors",
]
