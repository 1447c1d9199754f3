"""The measured experiments of Parts II, IV and V, as the chapters show them and the JSON records.

* :mod:`~ddpm_tutorial.experiments.prompt_following`: does a text-to-image model do what its
  prompt says (``evaluate-text``)?
* :mod:`~ddpm_tutorial.experiments.text_to_image`: the guidance trade-off; encoder against
  denoiser (4.1.1.2); the UNet against the MM-DiT on the same captions (Part V);
* :mod:`~ddpm_tutorial.experiments.systems`: Part IV's systems side by side, every shipped
  generator at its card's defaults, what the latent space saves, thresholding, unCLIP's
  priors;
* :mod:`~ddpm_tutorial.experiments.guidance`: classifier guidance of ``mnist-ddpm`` per
  scale (Part V);
* :mod:`~ddpm_tutorial.experiments.samplers`: Part V's quality against network calls, every
  sampler of a checkpoint at a few budgets of calls;
* :mod:`~ddpm_tutorial.experiments.scoring`: the held-out prompts, and every measure of a set
  of samples with its n, its floor at n and an interval;
* :mod:`~ddpm_tutorial.experiments.generators`: what is sampled, at which settings;
* :mod:`~ddpm_tutorial.experiments.ranking`: which rows the intervals separate, and the
  sampling default the measurements choose.

``python -m ddpm_tutorial experiment NAME`` runs one and writes its JSON to
``data/experiments/NAME.json``.
"""

from .generators import Protocol, draw_at_defaults, load_generator, measure, with_sampling
from .guidance import classifier_guidance_sweep
from .prompt_following import text_report
from .ranking import compare_rows, ranking, recommend_default
from .samplers import quality_against_calls
from .scoring import heldout_pairs, heldout_prompts, load_experiment, score_samples
from .systems import (
    SHIPPED_GENERATORS,
    card_defaults,
    latent_savings,
    part4_comparison,
    thresholding,
    unclip_priors,
)
from .text_to_image import (
    compare_text_models,
    encoder_vs_denoiser,
    guidance_tradeoff,
    text_backbones,
)

__all__ = [
    "SHIPPED_GENERATORS",
    "Protocol",
    "card_defaults",
    "classifier_guidance_sweep",
    "compare_rows",
    "compare_text_models",
    "draw_at_defaults",
    "encoder_vs_denoiser",
    "guidance_tradeoff",
    "heldout_pairs",
    "heldout_prompts",
    "latent_savings",
    "load_experiment",
    "load_generator",
    "measure",
    "part4_comparison",
    "quality_against_calls",
    "ranking",
    "recommend_default",
    "score_samples",
    "text_backbones",
    "text_report",
    "thresholding",
    "unclip_priors",
    "with_sampling",
]
