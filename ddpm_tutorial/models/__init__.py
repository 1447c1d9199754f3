"""Networks: the noise predictors, and the networks beside them, one per file.

Noise predictors for images (:class:`UNet`, text-conditional :class:`TextUNet`,
super-resolution :class:`SuperResUNet`), for 2-D points (:class:`MLPDenoiser`), the transformer :class:`DiT` (Part V) and for CLIP
embeddings (unCLIP's :class:`DiffusionPrior`); beside them the classifiers, CLIP, the
autoencoder, the super-resolution CNN, the first DALL-E and the noisy classifier of
classifier guidance (Part V). Nothing here trains or loads.

:func:`build_model` rebuilds a network from the ``kind`` and config dict stored in a model card,
so that a checkpoint never needs pickled code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from .autoencoder import Autoencoder, AutoencoderConfig
from .classifier import DigitClassifier, DigitClassifierConfig
from .clip import CLIP, CLIPConfig
from .dalle import DALLE, DALLEConfig
from .dit import DiT, DiTConfig
from .embeddings import TimestepEmbedding, sinusoidal_embedding
from .feature_net import FeatureNet, FeatureNetConfig, StyleFeatureNet
from .mlp import MLPConfig, MLPDenoiser
from .noisy_classifier import NoisyClassifier, NoisyClassifierConfig
from .prior import DiffusionPrior, PriorConfig, RegressionPrior
from .sr_cnn import SuperResConfig, SuperResNet
from .sr_unet import SuperResUNet, SuperResUNetConfig
from .text_dit import TextDiT, TextDiTConfig
from .text_transformer import TextTransformer
from .text_unet import TextUNet, TextUNetConfig
from .unet import UNet, UNetConfig

__all__ = [
    "Autoencoder",
    "AutoencoderConfig",
    "CLIP",
    "CLIPConfig",
    "DALLE",
    "DALLEConfig",
    "DiT",
    "DiTConfig",
    "DiffusionPrior",
    "DigitClassifier",
    "DigitClassifierConfig",
    "FeatureNet",
    "FeatureNetConfig",
    "MODEL_KINDS",
    "MLPConfig",
    "MLPDenoiser",
    "NoisyClassifier",
    "NoisyClassifierConfig",
    "PriorConfig",
    "RegressionPrior",
    "StyleFeatureNet",
    "SuperResConfig",
    "SuperResNet",
    "SuperResUNet",
    "SuperResUNetConfig",
    "TextTransformer",
    "TextDiT",
    "TextDiTConfig",
    "TextUNet",
    "TextUNetConfig",
    "TimestepEmbedding",
    "UNet",
    "UNetConfig",
    "build_model",
    "config_from_dict",
    "count_parameters",
    "model_kind",
    "sinusoidal_embedding",
]

#: kind name -> (network class, config dataclass); later chapters register their networks here.
MODEL_KINDS: dict[str, tuple[type[nn.Module], type]] = {
    "unet": (UNet, UNetConfig),
    "text-unet": (TextUNet, TextUNetConfig),
    "mlp": (MLPDenoiser, MLPConfig),
    "dit": (DiT, DiTConfig),
    "text-dit": (TextDiT, TextDiTConfig),
    "digit-classifier": (DigitClassifier, DigitClassifierConfig),
    "feature-net": (FeatureNet, FeatureNetConfig),
    "style-feature-net": (StyleFeatureNet, FeatureNetConfig),
    "clip": (CLIP, CLIPConfig),
    "autoencoder": (Autoencoder, AutoencoderConfig),
    "super-res": (SuperResNet, SuperResConfig),
    "sr-unet": (SuperResUNet, SuperResUNetConfig),
    "diffusion-prior": (DiffusionPrior, PriorConfig),
    "regression-prior": (RegressionPrior, PriorConfig),
    "dalle": (DALLE, DALLEConfig),
    "noisy-classifier": (NoisyClassifier, NoisyClassifierConfig),
}


def config_from_dict(config_cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a frozen config dataclass from a JSON dict (lists become tuples)."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)} for {config_cls.__name__}")
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return config_cls(**fixed)


def build_model(kind: str, config: dict[str, Any] | None = None) -> nn.Module:
    """Build a network of a registered ``kind`` from a config dict."""
    if kind not in MODEL_KINDS:
        raise ValueError(
            f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(MODEL_KINDS))}"
        )
    model_cls, config_cls = MODEL_KINDS[kind]
    return model_cls(config_from_dict(config_cls, config or {}))


def model_kind(model: nn.Module) -> str:
    """The registered kind name of ``model``."""
    for kind, (model_cls, _) in MODEL_KINDS.items():
        if type(model) is model_cls:
            return kind
    raise ValueError(f"{type(model).__name__} is not a registered model kind")


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or frozen)."""
    return sum(p.numel() for p in model.parameters())
