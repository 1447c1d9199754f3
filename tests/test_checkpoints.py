"""Checkpoints: safetensors plus a JSON model card; every failure says which."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
import torch

import ddpm_tutorial
from ddpm_tutorial import checkpoints
from ddpm_tutorial.checkpoints import (
    CheckpointError,
    checkpoint_names,
    load_checkpoint,
    read_card,
    resolve_checkpoint,
    save_checkpoint,
    sha256_of,
)
from ddpm_tutorial.schedules import NoiseSchedule
from ddpm_tutorial.systems import load_system


@pytest.fixture
def saved(tmp_path, make_tiny_unet):
    """A tiny random UNet saved as tmp/ckpt/tiny.safetensors + tiny.json."""
    model = make_tiny_unet(num_classes=10)
    path = tmp_path / "ckpt" / "tiny.safetensors"
    card = save_checkpoint(
        model, path, schedule=NoiseSchedule.cosine(100), card={"conditioning": "class"}
    )
    return model, path, card


def _outputs(model):
    x_t, t = (
        torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
        torch.tensor([3, 70]),
    )
    with torch.no_grad():
        return model(x_t, t, torch.tensor([1, 2]))


def test_save_then_load_gives_the_same_network_schedule_and_card(saved):
    model, path, card = saved
    ckpt = load_checkpoint(path)
    assert ckpt.model.config == model.config and not ckpt.model.training
    for name, value in model.state_dict().items():
        assert torch.equal(ckpt.model.state_dict()[name], value), name
    torch.testing.assert_close(_outputs(ckpt.model), _outputs(model), rtol=0, atol=0)
    assert ckpt.schedule.kind == "cosine" and torch.equal(
        ckpt.schedule.betas, NoiseSchedule.cosine(100).betas
    )
    assert ckpt.card == card and ckpt.name == "tiny"


def test_the_card_records_network_schedule_version_and_hash(saved):
    model, path, card = saved
    on_disk = json.loads(path.with_suffix(".json").read_text())
    assert on_disk == card
    assert card["format"] == "ddpm-tutorial-model-card/1"
    assert card["model"]["kind"] == "unet" and card["model"]["config"]["num_classes"] == 10
    assert card["model"]["parameters"] == sum(p.numel() for p in model.parameters())
    assert card["schedule"] == {"kind": "cosine", "num_steps": 100}
    assert card["package_version"] == ddpm_tutorial.__version__
    assert card["sha256"] == sha256_of(path) and card["weights_bytes"] == path.stat().st_size
    assert card["conditioning"] == "class"


@pytest.mark.parametrize("spec", ["weights", "card", "folder", "bare name"])
def test_a_checkpoint_loads_by_weights_card_folder_or_bare_name(saved, monkeypatch, spec):
    _, path, _ = saved
    if spec == "folder":  # a run folder holds model.safetensors + model.json
        path.rename(path.with_name("model.safetensors"))
        card = json.loads(path.with_suffix(".json").read_text())
        card["weights"] = "model.safetensors"
        path.with_name("model.json").write_text(json.dumps(card))
    monkeypatch.setenv("DDPM_TUTORIAL_DATA", str(path.parent.parent))
    path.parent.rename(path.parent.with_name("checkpoints"))
    folder = path.parent.with_name("checkpoints")
    target = {
        "weights": folder / "tiny.safetensors",
        "card": folder / "tiny.json",
        "folder": folder,
        "bare name": "tiny",
    }[spec]
    assert load_checkpoint(target).model.config.num_classes == 10


def test_a_missing_weights_file_is_a_file_not_found_error_naming_it(saved):
    _, path, _ = saved
    path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="weights file named by the model card"):
        load_checkpoint(path.with_suffix(".json"))


def test_a_missing_card_is_a_file_not_found_error(saved):
    _, path, _ = saved
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="model card"):
        load_checkpoint(path)


def test_an_unknown_bare_name_lists_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("DDPM_TUTORIAL_DATA", str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        load_checkpoint("no-such-model")
    message = str(err.value)
    assert message.startswith("no checkpoint named 'no-such-model'; checkpoints: ")
    assert f"looked in {tmp_path / 'checkpoints'}, " in message and "\n" not in message
    assert "did you mean" not in message  # nothing is close


def test_an_unknown_bare_name_lists_the_names_there_and_suggests_the_nearest(
    saved, monkeypatch, tmp_path
):
    monkeypatch.setenv("DDPM_TUTORIAL_DATA", str(tmp_path))
    saved[1].parent.rename(tmp_path / "checkpoints")  # tmp/checkpoints/tiny.safetensors
    with pytest.raises(FileNotFoundError, match="no checkpoint named 'tinny'; did you mean tiny?"):
        load_checkpoint("tinny")
    with pytest.raises(FileNotFoundError) as err:
        load_checkpoint("mnist-dpm")  # a shipped name, found beside the package
    assert "did you mean mnist-ddpm?" in str(err.value)
    assert "checkpoints: mnist-autoencoder, " in str(err.value) and ", tiny;" in str(err.value)
    assert "systems: mnist-imagen, mnist-unclip;" in str(err.value)


def test_checkpoint_names_tell_checkpoints_from_systems_and_skip_other_json(
    saved, monkeypatch, tmp_path
):
    monkeypatch.setenv("DDPM_TUTORIAL_DATA", str(tmp_path))
    folder = tmp_path / "checkpoints"
    saved[1].parent.rename(folder)
    (folder / "notes.json").write_text(json.dumps({"hello": "world"}))
    names = checkpoint_names()
    assert names["tiny"] == "checkpoint" and "notes" not in names
    assert names["mnist-ddpm"] == "checkpoint" and names["mnist-imagen"] == "system"
    assert list(names) == sorted(names)


def test_load_system_suggests_the_nearest_system_or_points_a_checkpoint_to_load_checkpoint():
    with pytest.raises(
        FileNotFoundError, match="no system named 'mnist-imagne'; did you mean mnist-imagen?"
    ):
        load_system("mnist-imagne")
    with pytest.raises(FileNotFoundError, match="'mnist-ddpm' is one checkpoint, not a system"):
        load_system("mnist-ddpm")
    with pytest.raises(FileNotFoundError, match="system card 'nowhere/x.json' does not exist"):
        load_system("nowhere/x.json")


def test_a_shipped_checkpoints_file_name_outside_its_folder_points_to_the_bare_name(
    monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="pass the bare name mnist-ddpm$"):
        load_checkpoint("mnist-ddpm.safetensors")
    with pytest.raises(FileNotFoundError, match="weights file 'nothing.safetensors' does not"):
        load_checkpoint("nothing.safetensors")


PUBLIC_FUNCTIONS = [
    obj for name in checkpoints.__all__ if inspect.isfunction(obj := getattr(checkpoints, name))
]


@pytest.mark.parametrize("function", PUBLIC_FUNCTIONS, ids=lambda f: f.__name__)
def test_every_public_function_documents_every_argument(function):
    """Each parameter has its own ``name:`` entry under ``Args:`` (keyword-only ones too)."""
    doc = inspect.getdoc(function) or ""
    args = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    params = list(inspect.signature(function).parameters)
    missing = [p for p in params if not re.search(rf"^    {p}: \S", args, re.M)]
    assert not missing, f"{function.__name__} does not document {missing}"


def _corrupt(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_changed_weights_bytes_are_caught_by_the_hash(saved):
    _, path, _ = saved
    _corrupt(path, path.stat().st_size - 16, b"\xff" * 8)  # inside the last tensor's data
    with pytest.raises(CheckpointError, match="sha256 mismatch .* the file was changed or damaged"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncated", "garbled header"])
def test_a_corrupted_file_is_reported_as_corrupted_without_verification(saved, damage):
    _, path, _ = saved
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        _corrupt(path, 8, b"#not json" * 3)
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="is corrupted or not safetensors"):
        load_checkpoint(path, verify=False)


def test_a_card_that_is_not_json_says_so(saved):
    _, path, _ = saved
    path.with_suffix(".json").write_text("{ this is not json")
    with pytest.raises(CheckpointError, match="is not valid JSON"):
        load_checkpoint(path)


def test_a_json_file_that_is_not_a_model_card_says_so(saved):
    _, path, _ = saved
    path.with_suffix(".json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(CheckpointError, match="is not a ddpm-tutorial model card"):
        read_card(path.with_suffix(".json"))


def test_weights_that_do_not_fit_the_cards_network_say_so(saved):
    _, path, card = saved
    card["model"]["config"]["base_channels"] = 16
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="do not fit the 'unet' network its card describes"):
        load_checkpoint(path)


def test_weights_must_be_saved_as_safetensors(tmp_path, make_tiny_unet):
    with pytest.raises(ValueError, match=r"must end in \.safetensors"):
        save_checkpoint(make_tiny_unet(), tmp_path / "model.pt", schedule=NoiseSchedule.linear(10))


def test_resolve_checkpoint_pairs_weights_with_their_card(saved):
    _, path, _ = saved
    assert resolve_checkpoint(path) == (path, path.with_suffix(".json"))
    assert resolve_checkpoint(path.with_suffix(".json")) == (path, path.with_suffix(".json"))


def test_loading_never_unpickles():
    """No module of the package calls torch.load or pickle: checkpoints are safetensors and JSON."""
    root = Path(ddpm_tutorial.__file__).parent
    pattern = re.compile(
        r"torch\.load\b|\bimport pickle\b|\bpickle\.|\bdill\b|\bjoblib\b|\bcloudpickle\b"
    )
    offenders = [
        f"{p.relative_to(root)}:{i}"
        for p in sorted(root.rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, f"unpickling code in the package: {offenders}"


def test_publish_records_metrics_and_a_chosen_guidance_scale(tmp_path, make_tiny_unet):
    from ddpm_tutorial.checkpoints import publish_checkpoint, save_checkpoint
    from ddpm_tutorial.schedules import NoiseSchedule

    run = tmp_path / "run"
    save_checkpoint(
        make_tiny_unet(),
        run / "model.safetensors",
        schedule=NoiseSchedule.linear(20),
        card={"sampling": {"sampler": "ddim", "steps": 50, "guidance_scale": 3.0}},
    )
    card = publish_checkpoint(
        run,
        "tiny",
        tmp_path / "data" / "checkpoints",
        metrics={"acc": 0.9},
        sampling={"guidance_scale": 5.0},
    )
    assert card["sampling"] == {"sampler": "ddim", "steps": 50, "guidance_scale": 5.0}
    assert card["metrics"]["acc"] == 0.9
    registry = json.loads((tmp_path / "data" / "registry.json").read_text())
    assert registry["checkpoints"]["tiny"]["sha256"] == card["sha256"]
