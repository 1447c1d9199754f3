"""``edit``: change a given image with a trained denoiser: img2img, inpainting, inversion.

::

    python -m ddpm_tutorial edit img2img --checkpoint mnist-ddpm --digit 3 --strength 0.5 --out e.png
    python -m ddpm_tutorial edit inpaint --checkpoint mnist-flow --image x.npy --mask top --out e.npy
    python -m ddpm_tutorial edit invert  --checkpoint mnist-ddpm --image x.png --out latents.npy

The image is a 28x28 grayscale PNG (0-255, mapped to [-1, 1] by ``x / 127.5 - 1``), an ``.npy``
array in [-1, 1] of shape (N, C, H, W), (C, H, W) or (H, W), or ``--digit K``: a held-out MNIST
digit K (the first of its label; several K edit several digits). The mask (inpaint) is a PNG of
0 (generate) and 255 (keep), an ``.npy`` of 0s and 1s of shape (H, W), (1, H, W) or
(N or 1, 1, H, W), or the half to keep: ``top``, ``bottom``, ``left``, ``right``. The checkpoint
is a noise predictor (``mnist-ddpm``, ``mnist-text``: DDIM, ``eta = 0``) or a flow-matching
model (``mnist-flow``: Euler); see :mod:`ddpm_tutorial.editing`. ``img2img`` and ``inpaint``
write the edits as an (N, C, H, W) array to ``.npy``, or to ``.png`` a grid whose first row is
the inputs and second the edits; ``invert`` writes the latents to ``.npy`` and prints how far
sampling from them lands from the image (the RMSE per image).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..checkpoints import Checkpoint, load_checkpoint
from ..data.mnist import load_mnist, pick_by_label, to_unit_range
from ..editing import HALVES, half_mask, img2img, inpaint, inversion_error, invert, sdedit_grid
from ..flow_matching import FlowMatching
from ..models import model_kind
from ..plotting import save_image_grid
from ..systems import find_system_card
from ..systems.pipeline import repeat_condition, sample_shape
from .flags import CommandError

__all__ = ["EDIT_MODES", "EDITING_KINDS", "read_images", "read_mask", "register"]

#: what ``edit`` does
EDIT_MODES = ("img2img", "inpaint", "invert")
#: the networks that can edit: denoisers of images
EDITING_KINDS = ("unet", "text-unet", "dit", "text-dit")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``edit`` command."""
    edit = sub.add_parser(
        "edit",
        help="edit an image with a checkpoint: img2img (SDEdit), inpaint (RePaint), invert (DDIM)",
        description="img2img noises the image to --strength and samples back (SDEdit); "
        "inpaint regenerates where the mask is 0 (RePaint, --resample U); invert writes the "
        "latents the deterministic sampler maps to the image, and prints the round trip's RMSE",
    )
    edit.add_argument("mode", choices=EDIT_MODES)
    edit.add_argument(
        "--checkpoint",
        required=True,
        help="a denoiser of images: mnist-ddpm or mnist-text (DDIM), mnist-flow (Euler), or a path",
    )
    source = edit.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--image",
        type=Path,
        help="IN.png (28x28 grayscale, 0-255) or IN.npy in [-1, 1]: (N, C, H, W), (C, H, W) "
        "or (H, W)",
    )
    source.add_argument(
        "--digit",
        type=int,
        nargs="+",
        help="held-out MNIST digits by label: the first held-out example of each K",
    )
    edit.add_argument(
        "--mask",
        default=None,
        help="inpaint: MASK.png (255 keep, 0 generate), MASK.npy of 1s (keep) and 0s, or the "
        f"half to keep: {', '.join(HALVES)}",
    )
    edit.add_argument(
        "--strength",
        type=float,
        default=None,
        help="img2img: how far to noise the image, in [0, 1] (default 0.5; 1 = plain sampling)",
    )
    edit.add_argument(
        "--steps", type=int, default=50, help="steps of the full sampler grid (default 50)"
    )
    edit.add_argument(
        "--resample",
        type=int,
        default=None,
        help="inpaint: RePaint's resampling count U (default 1, plain masked replacement)",
    )
    edit.add_argument("--prompt", default=None, help="text for a text-conditional model")
    edit.add_argument(
        "--guidance-scale",
        type=float,
        default=None,
        help="classifier-free guidance w with --prompt (default: the model card's)",
    )
    edit.add_argument("--seed", type=int, default=0, help="random seed of the noise")
    edit.add_argument("--device", default=None, help="cpu, cuda or mps")
    edit.add_argument(
        "--out",
        required=True,
        type=Path,
        help="OUT.npy (an array) or OUT.png (inputs above edits); invert: latents to OUT.npy",
    )
    edit.set_defaults(run=_edit)


# ---------------------------------------------------------------------------- inputs
def read_images(path: Path, shape: tuple[int, ...]) -> Tensor:
    """Images from a PNG or an ``.npy`` file, float32 (N, C, H, W) in [-1, 1].

    Args:
        path: a grayscale PNG of 0-255 pixels, or an ``.npy`` array in [-1, 1] of shape
            (N, C, H, W), (C, H, W) or (H, W).
        shape: the (C, H, W) the model takes.

    Raises:
        CommandError: for another file type, another size or channel count, or values out of
            range.
    """
    C, H, W = shape
    if path.suffix not in (".png", ".npy"):
        raise CommandError(f"--image must end in .png or .npy; got {str(path)!r}")
    if not path.is_file():
        raise CommandError(f"--image {str(path)!r} does not exist")
    if path.suffix == ".png":
        from PIL import Image

        with Image.open(path) as img:
            if img.mode not in ("L", "LA", "I", "I;16", "P", "1"):
                raise CommandError(
                    f"--image {str(path)!r} has {img.mode} pixels; give a grayscale PNG"
                )
            pixels = np.array(img.convert("L"))
        if C != 1 or pixels.shape != (H, W):
            raise CommandError(
                f"--image {str(path)!r} is {pixels.shape[1]}x{pixels.shape[0]}; the model "
                f"takes {W}x{H} images with {C} channel(s)"
            )
        return to_unit_range(pixels).reshape(1, 1, H, W)
    array = np.load(path)
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or tuple(array.shape[1:]) != (C, H, W):
        raise CommandError(
            f"--image {str(path)!r} has shape {tuple(np.load(path).shape)}; the model takes "
            f"(N, {C}, {H}, {W}), ({C}, {H}, {W}) or ({H}, {W})"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise CommandError(
            f"--image {str(path)!r} holds {array.dtype}; give floats in [-1, 1] "
            "(0-255 pixels map by x / 127.5 - 1)"
        )
    low, high = float(array.min()), float(array.max())
    if low < -1.0 - 1e-6 or high > 1.0 + 1e-6:
        raise CommandError(
            f"--image {str(path)!r} has values in [{low:g}, {high:g}]; give images in [-1, 1] "
            "(clip samples with np.clip(x, -1, 1); 0-255 pixels map by x / 127.5 - 1)"
        )
    return torch.from_numpy(array.astype(np.float32))


def read_mask(spec: str, shape: tuple[int, ...]) -> Tensor:
    """A mask of 1s (keep) and 0s (generate), float32 (N or 1, 1, H, W).

    Args:
        spec: a half (``top``, ``bottom``, ``left``, ``right``: the half kept), a PNG of 0 and
            255, or an ``.npy`` of 0s and 1s of shape (H, W), (1, H, W) or (N, 1, H, W).
        shape: the images' (C, H, W).

    Raises:
        CommandError: for another file type or values other than 0 and 255 in a PNG. (Other
            shapes and values are refused by :func:`~ddpm_tutorial.editing.check_mask`.)
    """
    _, H, W = shape
    if spec in HALVES:
        return half_mask(spec, H, W)  # type: ignore[arg-type]
    path = Path(spec)
    if path.suffix not in (".png", ".npy"):
        raise CommandError(
            f"--mask must be a .png, a .npy or one of {', '.join(HALVES)}; got {spec!r}"
        )
    if not path.is_file():
        raise CommandError(f"--mask {spec!r} does not exist")
    if path.suffix == ".png":
        from PIL import Image

        with Image.open(path) as img:
            pixels = np.array(img.convert("L")).astype(np.float32)
        bad = sorted(set(np.unique(pixels).tolist()) - {0.0, 255.0})
        if bad:
            raise CommandError(
                f"--mask {spec!r} must hold only 0 (generate) and 255 (keep); got {bad[:3]}"
            )
        return torch.from_numpy(pixels / 255.0).reshape(1, 1, *pixels.shape)
    array = np.load(path).astype(np.float32)
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        array = array[None]
    return torch.from_numpy(array)


def _digits(digits: list[int], shape: tuple[int, ...]) -> Tensor:
    if shape != (1, 28, 28):
        raise CommandError(f"--digit gives 1x28x28 MNIST digits; the model takes {shape}")
    bad = [d for d in digits if not 0 <= d <= 9]
    if bad:
        raise CommandError(f"--digit takes digits 0-9; got {bad[0]}")
    data = load_mnist("test", verbose=False)
    return data.images[pick_by_label(data.labels, digits)]


# ---------------------------------------------------------------------------- the command
def _editing_checkpoint(name: str, device: str) -> Checkpoint:
    """Load ``name``, refusing what cannot edit (a system, a classifier, a latent model, ...)."""
    if find_system_card(name) is not None:
        raise CommandError(
            f"{name!r} is a system of several networks; edit takes one denoiser of images "
            "(mnist-ddpm, mnist-flow, mnist-text)"
        )
    ckpt = load_checkpoint(name, device=device)
    kind = model_kind(ckpt.model)
    if kind not in EDITING_KINDS or ckpt.schedule is None:
        raise CommandError(
            f"{ckpt.name!r} is a {kind!r} network, which cannot edit: edit takes a denoiser of "
            f"images ({', '.join(EDITING_KINDS)})"
        )
    if "latent" in ckpt.card:
        raise CommandError(
            f"{ckpt.name!r} denoises an autoencoder's latents; edit works on pixels (mnist-ddpm, "
            "mnist-flow, mnist-text)"
        )
    conditioning = ckpt.card.get("conditioning", "none")
    if conditioning not in ("none", "text"):
        raise CommandError(
            f"{ckpt.name!r} is conditioned on {conditioning!r}; edit takes an unconditional or a "
            "text-conditional model"
        )
    return ckpt


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse flags that do not apply to the mode, and values out of range."""
    only = {
        "--strength": ("img2img", args.strength),
        "--mask": ("inpaint", args.mask),
        "--resample": ("inpaint", args.resample),
    }
    for flag, (mode, value) in only.items():
        if value is not None and args.mode != mode:
            raise CommandError(f"{flag} applies to edit {mode}, not to edit {args.mode}")
    if args.mode == "inpaint" and args.mask is None:
        raise CommandError("edit inpaint needs --mask (a file, or top, bottom, left, right)")
    if args.strength is not None and not 0.0 <= args.strength <= 1.0:
        raise CommandError(f"--strength must lie in [0, 1]; got {args.strength}")
    if args.resample is not None and args.resample < 1:
        raise CommandError(f"--resample must be >= 1; got {args.resample}")
    if args.steps < 1:
        raise CommandError(f"--steps must be >= 1; got {args.steps}")
    if args.out.suffix not in (".npy", ".png"):
        raise CommandError(f"--out must end in .npy or .png; got {str(args.out)!r}")
    if args.mode == "invert" and args.out.suffix != ".npy":
        raise CommandError(f"edit invert writes latents to .npy; got {str(args.out)!r}")
    if args.mode == "invert" and args.guidance_scale is not None:
        raise CommandError("--guidance-scale does not apply to invert: it runs unguided (w = 1)")


def _condition(ckpt: Checkpoint, args: argparse.Namespace, n: int) -> dict[str, Any]:
    """``cond`` and ``guidance_scale`` for the prompt (none: the unconditional model, w = 1)."""
    conditioning = ckpt.card.get("conditioning", "none")
    if args.prompt is None:
        if args.guidance_scale is not None:
            raise CommandError("--guidance-scale needs --prompt (a condition to guide toward)")
        return {"cond": None, "guidance_scale": 1.0}
    if conditioning != "text":
        raise CommandError(
            f"--prompt needs a text-conditional model; {ckpt.name!r} is conditioned on "
            f"{conditioning!r}"
        )
    cond = repeat_condition(ckpt.model.encode_prompts([args.prompt]), n)  # type: ignore[operator]
    w = args.guidance_scale
    if w is None:
        w = float(ckpt.card.get("sampling", {}).get("guidance_scale", 1.0))
    if w < 0:
        raise CommandError(f"--guidance-scale must be >= 0; got {w}")
    return {"cond": cond, "guidance_scale": w}


def _edit(args: argparse.Namespace) -> int:
    _check_flags(args)
    device = args.device or "cpu"
    ckpt = _editing_checkpoint(args.checkpoint, device)
    shape = sample_shape(ckpt.model.config, 1)[1:]
    x = read_images(args.image, shape) if args.image is not None else _digits(args.digit, shape)
    x = x.to(device)
    condition = _condition(ckpt, args, x.shape[0])
    path = ckpt.schedule
    assert path is not None
    g = torch.Generator(device=device).manual_seed(args.seed)
    clip_x0 = bool(ckpt.card.get("sampling", {}).get("clip_x0", False))
    sampler = "Euler" if isinstance(path, FlowMatching) else "DDIM"
    if args.mode == "invert":
        latents = invert(ckpt.model, path, x, num_steps=args.steps, cond=condition["cond"])
        rmse = inversion_error(ckpt.model, path, x, num_steps=args.steps, cond=condition["cond"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.out, latents.cpu().numpy().astype(np.float32))
        print(
            f"wrote the latents of {x.shape[0]} image(s) ({sampler} inversion, {args.steps} "
            f"steps) to {args.out}; reconstruction RMSE per image: "
            f"{', '.join(f'{v:.4f}' for v in rmse.tolist())}"
        )
        return 0
    if args.mode == "img2img":
        strength = 0.5 if args.strength is None else args.strength
        out = img2img(
            ckpt.model,
            path,
            x,
            strength,
            num_steps=args.steps,
            clip_x0=clip_x0,
            generator=g,
            **condition,
        )
        calls = len(sdedit_grid(path, strength, args.steps)) if strength > 0 else 0
        calls -= 1 if isinstance(path, FlowMatching) and calls else 0
        what = f"img2img, strength {strength:g}, {calls} {sampler} steps"
    else:
        mask = read_mask(args.mask, shape)
        resample = args.resample or 1
        out = inpaint(
            ckpt.model,
            path,
            x,
            mask,
            num_steps=args.steps,
            resample=resample,
            clip_x0=clip_x0,
            generator=g,
            **condition,
        )
        what = f"inpaint, {args.steps} {sampler} steps, resample {resample}"
    out = out.cpu()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".npy":
        np.save(args.out, out.numpy().astype(np.float32))
    else:
        save_image_grid(torch.cat([x.cpu(), out]), args.out, nrow=x.shape[0])
    print(f"wrote {out.shape[0]} edited image(s) ({what}) to {args.out}")
    return 0
