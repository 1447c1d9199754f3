"""A folder of your own images as float32 tensors in [-1, 1], shape (N, C, S, S).

:func:`load_image_folder` reads every image file in a folder and its subfolders (``.png``,
``.jpg``, ``.jpeg``, ``.bmp``, ``.gif``, ``.tif``, ``.tiff``, ``.webp``, in sorted path order;
other files are ignored) and makes each one a training example for a model of ``image_size``
S and ``channels`` C:

1. **size**: scaled so that its shorter side is S (bicubic, antialiased), then the central
   S x S square cut out: nothing is stretched, and the edges of the longer side are lost;
2. **channels**: to the model's, whatever the file's own: a gray image for a 3-channel model
   is repeated in R, G and B; a colour image for a 1-channel model becomes its luminance
   ``L = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, Pillow's ``convert("L")``); a
   transparent pixel is first laid over white;
3. **range**: 8-bit values ``v`` become ``v / 127.5 - 1``, in [-1, 1], as MNIST's are
   (16-bit gray files are first scaled to 8 bits).

Pillow reads the files. Every failure is one sentence that names what failed: a path that does
not exist or is not a folder, a folder with no images, a file that is not a readable image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

__all__ = ["IMAGE_SUFFIXES", "ImageFolder", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ImageFolder:
    """The images of a folder, ready to train on.

    Attributes:
        images: float32, shape (N, C, S, S), in [-1, 1].
        files: the N files, in the order of ``images``.
        folder: the folder, resolved to an absolute path.
        modes: how many files were gray (``"gray"``) and how many colour (``"rgb"``) before
            conversion.
    """

    images: Tensor
    files: list[Path]
    folder: Path
    modes: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def describe(self) -> str:
        """One line: how many images, what shape, from where."""
        _, C, H, W = self.images.shape
        return f"{len(self)} images of {C}x{H}x{W} from {self.folder}"


def _to_mode(image: Image.Image, channels: int) -> tuple[Image.Image, str]:
    """``image`` as 8-bit gray (``channels=1``) or RGB (3), transparency over white."""
    original = (
        "gray"
        if image.mode in ("1", "L", "LA", "I", "F") or image.mode.startswith("I;16")
        else "rgb"
    )
    if image.mode.startswith("I;16"):  # 16-bit gray: 65535 -> 255 (Pillow would clip at 255)
        image = Image.fromarray(
            (np.asarray(image, dtype=np.float64) / 257).round().astype(np.uint8)
        )
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("L" if channels == 1 else "RGB"), original


def load_image_folder(path: str | Path, image_size: int, channels: int = 3) -> ImageFolder:
    """Every image in ``path`` (and its subfolders), resized, centre-cropped, in [-1, 1].

    Args:
        path: the folder.
        image_size: S, the side of the square images the model takes.
        channels: C, 1 (gray) or 3 (RGB): the model's ``in_channels``.

    Returns:
        An :class:`ImageFolder`; its ``images`` have shape (N, C, S, S).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a folder, holds no image files, or holds a file that cannot
            be read as an image (named); or ``image_size``/``channels`` are out of range.
    """
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1; got {image_size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (RGB); got {channels}")
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"no folder {str(folder)!r}: the path does not exist")
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is a file, not a folder of images")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ValueError(
            f"no images in {str(folder)!r}; looked for files ending in {', '.join(IMAGE_SUFFIXES)}"
        )
    arrays, modes = [], {"gray": 0, "rgb": 0}
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
                converted, original = _to_mode(image, channels)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise ValueError(f"cannot read {str(file)!r} as an image: {err}") from err
        modes[original] += 1
        square = ImageOps.fit(
            converted, (image_size, image_size), method=Image.Resampling.BICUBIC
        )  # scale the shorter side to S, then cut the central S x S
        pixels = np.asarray(square, dtype=np.float32).reshape(image_size, image_size, channels)
        arrays.append(pixels.transpose(2, 0, 1))  # (C, S, S)
    images = torch.from_numpy(np.stack(arrays)) / 127.5 - 1.0
    return ImageFolder(images=images, files=files, folder=folder.resolve(), modes=modes)
