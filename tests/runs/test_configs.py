"""Training configs: plain, immutable, sized by the profile, round-tripped through JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ddpm_tutorial.models import MLPConfig, UNetConfig
from ddpm_tutorial.runs import CONFIG_NAMES, TrainConfig, get_config
from ddpm_tutorial.runs.config import config_from_json, config_to_dict
from ddpm_tutorial.runtime import PROFILES


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_named_config_exists_at_every_profile_and_survives_json(name, profile):
    config = get_config(name, profile)
    assert isinstance(config, TrainConfig)
    as_json = json.loads(json.dumps(config_to_dict(config)))
    assert config_from_json(as_json) == config


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_bigger_profiles_train_longer(name):
    steps = [get_config(name, p).num_train_steps for p in ("smoke", "cpu", "full")]
    assert steps[0] < steps[1] < steps[2]


def test_smoke_mnist_is_tiny():
    config = get_config("mnist", "smoke")
    assert (
        config.model.base_channels <= 16
        and config.num_train_steps <= 50
        and config.num_train_images <= 512
    )


def test_class_config_is_class_conditional_with_ten_labels():
    config = get_config("mnist-class", "smoke")
    assert config.conditioning == "class" and config.model.num_classes == 10


def test_toy_configs_use_the_mlp():
    config = get_config("toy-moons", "cpu")
    assert (
        config.model_kind == "mlp"
        and isinstance(config.model, MLPConfig)
        and config.dataset == "moons"
    )


def test_overrides_replace_fields_and_model_fields():
    config = get_config("mnist", "smoke", batch_size=7, model={"base_channels": 16})
    assert config.batch_size == 7 and config.model.base_channels == 16
    assert config.model.channel_mults == get_config("mnist", "smoke").model.channel_mults
    assert get_config("mnist", "smoke", model=UNetConfig()).model == UNetConfig()


def test_the_profile_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("DDPM_TUTORIAL_PROFILE", "smoke")
    assert get_config("mnist") == get_config("mnist", "smoke")


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_config("mnist", "smoke").batch_size = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"dataset": "cifar"}, "unknown dataset 'cifar'"),
        ({"schedule": "quadratic"}, "unknown schedule 'quadratic'"),
        ({"conditioning": "words"}, "unknown conditioning 'words'"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"cond_drop_prob": 1.5}, r"cond_drop_prob must lie in \[0, 1\]"),
        ({"dataset": "moons"}, "dataset 'moons' needs the mlp model"),
        ({"model": MLPConfig()}, "must be a UNetConfig"),
    ],
)
def test_invalid_config_fields_are_refused_with_their_name(fields, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TrainConfig(**fields)


def test_text_configs_pair_text_conditioning_with_the_text_unet():
    from ddpm_tutorial.data.captions import caption_vocabulary

    scratch = get_config("mnist-text", "cpu")
    frozen = get_config("mnist-text-minilm", "cpu")
    assert scratch.model_kind == frozen.model_kind == "text-unet"
    assert scratch.model.vocabulary == caption_vocabulary() and scratch.model.text_dim == 64
    assert frozen.model.text_encoder == "minilm" and frozen.model.text_dim == 384
    with pytest.raises(ValueError, match="does not fit model_kind"):
        get_config("mnist", "smoke", conditioning="text")


def test_part_four_cascade_configs_fit_their_data():
    from ddpm_tutorial.runs import get_config

    base = get_config("mnist-imagen-base", "smoke")
    assert base.resolution == 14 and base.model.image_size == 14
    assert base.model.text_encoder == "minilm" and base.model.text_conditioning == "both"
    sr = get_config("mnist-imagen-sr", "smoke")
    assert sr.model_kind == "sr-unet" and sr.cond_drop_prob == 0.0
    decoder = get_config("mnist-unclip-decoder", "smoke")
    assert decoder.clip == "mnist-clip" and decoder.model.cond_dim == 64
    sd = get_config("mnist-sd", "smoke")
    assert sd.autoencoder == "mnist-autoencoder" and sd.model.context_dim is not None
    with pytest.raises(ValueError, match="built for 14x14"):
        get_config("mnist-imagen-base", "smoke", resolution=0)
    with pytest.raises(ValueError, match="resolution must divide"):
        get_config("mnist-imagen-base", "smoke", resolution=5)
    with pytest.raises(ValueError, match="sr-unet"):
        get_config("mnist-imagen-sr", "smoke", conditioning="none")
    with pytest.raises(ValueError, match="--clip"):
        get_config("mnist-unclip-decoder", "smoke", clip="")


def test_mnist_dit_is_mnist_flow_with_a_transformer_in_the_unets_place():
    dit, flow = get_config("mnist-dit", "cpu"), get_config("mnist-flow", "cpu")
    assert dit.model_kind == "dit" and dit.model.patch_size == 4
    skip = ("name", "model_kind", "model")
    assert {k: v for k, v in dit.__dict__.items() if k not in skip} == {
        k: v for k, v in flow.__dict__.items() if k not in skip
    }


def test_mnist_mmdit_is_a_text_dit_on_captions_with_the_flow_objective():
    config = get_config("mnist-mmdit", "smoke")
    assert config.model_kind == "text-dit" and config.conditioning == "text"
    assert config.objective == "flow" and config.model.context_dim == config.model.text_dim
    with pytest.raises(ValueError, match="text conditioning goes with the text-unet or text-dit"):
        get_config("mnist-dit", "smoke", conditioning="text")
