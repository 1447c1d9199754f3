r"""Damage a set of real digits in a known way, to check that a metric sees the damage.

A metric of samples earns trust when it moves with damage we control. Each corruption maps a
*set* of digits to a damaged set of the same size, deterministically given a generator::

    images (N, 1, 28, 28) in [-1, 1], labels (N,) int64  ->  images, labels (same shapes)

:func:`corrupt_set` dispatches on the family; :data:`LADDERS` gives each family's severities,
mildest first. The families (the level is the number in the ladder):

* ``collapse``: within-class mode collapse. Each class keeps ``ceil(count / r)`` distinct
  digits, each repeated about ``r`` times to the class's count (r = 2, 5, 10, 20, 100: at
  1,000 digits, 100 per class, that is 50, 20, 10, 5 and 1 distinct digits per class).
* ``imbalance``: a share ``p`` of the set is one class (digit 1), the rest split equally,
  redrawn without replacement from ``pool``.
* ``missing``: ``m`` classes missing (the same classes in the same order at every level, so
  the levels nest), redrawn equally from the other classes.
* ``dilate`` / ``erode``: grey-level dilation (max) or erosion (min) over a 2x2 square, a 3x3
  cross, a 3x3 square and a 5x5 square (levels 1-4): strokes thicker or thinner.
* ``binarise``: contrast sharpening :math:`x' = \tanh(\beta x)/\tanh(\beta)`, beta = 2, 4 and
  inf (inf: a hard threshold at 0, pure black and white).
* ``fade``: ink contrast lowered, :math:`x' = -1 + c\,(x + 1)`, c = 0.9, 0.8, 0.6, 0.4.
* ``blur``: Gaussian blur, sigma = 0.4, 0.6, 0.8, 1.0 px, padded with background.
* ``noise``: additive Gaussian noise of standard deviation 0.03, 0.05, 0.1, 0.2, then clipped.
* ``occlude``: an s x s patch set to background, centred on a random ink pixel (s = 4, 6, 8,
  12): a local defect.
* ``patchswap``: two s x s patches of the central 20x20 swapped (s = 4, 6, 8, 10): a local
  defect that keeps every pixel value.
* ``rotate``: every digit rotated by the same angle (5, 10, 20, 30 degrees): a slant.

:func:`stratified_pick` draws a set with given class proportions; the sensitivity suite
(:mod:`ddpm_tutorial.metrics.validation`) corrupts such picks. The book's first three
corruptions (:func:`corrupt_images`: blur, noise, pixel shuffle, one image at a time) are here
too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "CORRUPTIONS",
    "FAMILIES",
    "LADDERS",
    "corrupt_images",
    "corrupt_set",
    "stratified_indices",
    "stratified_pick",
]

#: family -> severities, mildest first. Binarisation starts at beta = 2: beta = 1 changes a
#: pixel by about 0.009 on average, at the detection limit of FID at 1,000 digits (it rose
#: above the real-vs-real floor's mean + 2 sd for only 2 of 5 picks in the prototype).
LADDERS: dict[str, tuple[float, ...]] = {
    "collapse": (2, 5, 10, 20, 100),
    "imbalance": (0.15, 0.2, 0.3, 0.4),
    "missing": (1, 2, 4, 6),
    "dilate": (1, 2, 3, 4),
    "erode": (1, 2, 3, 4),
    "binarise": (2.0, 4.0, math.inf),
    "fade": (0.9, 0.8, 0.6, 0.4),
    "blur": (0.4, 0.6, 0.8, 1.0),
    "noise": (0.03, 0.05, 0.1, 0.2),
    "occlude": (4, 6, 8, 12),
    "patchswap": (4, 6, 8, 10),
    "rotate": (5.0, 10.0, 20.0, 30.0),
}
FAMILIES = tuple(LADDERS)
#: the families that redraw the set from a pool instead of changing its digits
REDRAWN = ("imbalance", "missing")
_MORPHOLOGY = {1: "2x2", 2: "cross3", 3: "3x3", 4: "5x5"}


def _check_set(images: Tensor, labels: Tensor) -> None:
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must have shape (N, 1, 28, 28); got {tuple(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"labels must have shape ({images.shape[0]},) to match the images; "
            f"got {tuple(labels.shape)}"
        )


def stratified_indices(
    labels: Tensor, n: int, generator: torch.Generator, proportions: Tensor | None = None
) -> Tensor:
    """Indices of ``n`` examples drawn without replacement with given class proportions.

    Class c gets ``floor(n p_c)`` examples, and the rounding remainder goes to the classes with
    the largest fractional parts; the indices come out grouped by class.

    Args:
        labels: (P,) int64 digits 0-9 of the pool.
        n: how many to draw.
        generator: the only source of randomness.
        proportions: (10,) non-negative, summing to 1 (default: 0.1 each).

    Returns:
        int64 indices into ``labels``, shape (n,).

    Raises:
        ValueError: a class has fewer examples in the pool than it is asked for.
    """
    p = torch.full((10,), 0.1, dtype=torch.float64) if proportions is None else proportions
    p = p.double()
    if p.shape != (10,) or bool((p < 0).any()) or abs(float(p.sum()) - 1) > 1e-9:
        raise ValueError(
            f"proportions must be 10 non-negative numbers summing to 1; got {p.tolist()}"
        )
    counts = torch.floor(p * n).long()
    rest = n - int(counts.sum())
    if rest:
        counts[torch.argsort(-(p * n - counts), stable=True)[:rest]] += 1
    picks = []
    for c in range(10):
        members = torch.nonzero(labels == c).flatten()
        if int(counts[c]) > members.numel():
            raise ValueError(
                f"class {c}: {int(counts[c])} digits asked for, the pool has {members.numel()}"
            )
        picks.append(members[torch.randperm(members.numel(), generator=generator)[: counts[c]]])
    return torch.cat(picks)


def stratified_pick(
    images: Tensor,
    labels: Tensor,
    n: int,
    generator: torch.Generator,
    proportions: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Draw ``n`` digits without replacement with given class proportions (default: equal).

    Args:
        images, labels: the pool, (P, 1, 28, 28) and (P,) int64 digits 0-9.
        n: how many to draw.
        generator: the only source of randomness.
        proportions: (10,) non-negative, summing to 1; see :func:`stratified_indices`.

    Returns:
        (images (n, 1, 28, 28), labels (n,)), copies, grouped by class.
    """
    _check_set(images, labels)
    idx = stratified_indices(labels, n, generator, proportions)
    return images[idx].clone(), labels[idx].clone()


def corrupt_set(
    images: Tensor,
    labels: Tensor,
    family: str,
    level: float,
    generator: torch.Generator,
    *,
    pool: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Damage a set of digits; see the module docstring for the families and ladders.

    Args:
        images: (N, 1, 28, 28) in [-1, 1].
        labels: (N,) int64, the classes of ``images`` (kept, or redrawn by the class families).
        family: one of :data:`FAMILIES`.
        level: a severity, normally one of ``LADDERS[family]``.
        generator: the only source of randomness.
        pool: (images, labels) to redraw from, for ``imbalance`` and ``missing``.

    Returns:
        (images (N, 1, 28, 28) in [-1, 1], labels (N,)).
    """
    _check_set(images, labels)
    if family not in LADDERS:
        raise ValueError(f"unknown corruption {family!r}; choose one of {', '.join(FAMILIES)}")
    n = images.shape[0]
    if family in REDRAWN:
        if pool is None:
            raise ValueError(f"{family!r} redraws the set and needs pool=(images, labels)")
        return stratified_pick(*pool, n, generator, _class_shares(family, level, generator))
    if family == "collapse":
        return _collapse(images, labels, level, generator), labels.clone()
    if family in ("dilate", "erode"):
        return _morphology(images, level, dilate=family == "dilate"), labels.clone()
    if family == "binarise":
        if not level > 0:
            raise ValueError(f"binarise needs beta > 0; got {level}")
        x = (
            torch.where(images > 0, 1.0, -1.0)
            if math.isinf(level)
            else (torch.tanh(level * images) / math.tanh(level))
        )
        return x.to(images).clamp(-1, 1), labels.clone()
    if family == "fade":
        if not 0 < level <= 1:
            raise ValueError(f"fade keeps a contrast c in (0, 1]; got {level}")
        return (-1 + level * (images + 1)).clamp(-1, 1), labels.clone()
    if family == "blur":
        return _gaussian_blur(images, float(level)).clamp(-1, 1), labels.clone()
    if family == "noise":
        noise = torch.randn(images.shape, generator=generator).to(images)
        return (images + level * noise).clamp(-1, 1), labels.clone()
    if family == "occlude":
        return _occlude(images, int(level), generator), labels.clone()
    if family == "patchswap":
        return _patchswap(images, int(level), generator), labels.clone()
    return _rotate(images, float(level)), labels.clone()  # rotate


def _class_shares(family: str, level: float, generator: torch.Generator) -> Tensor:
    if family == "imbalance":
        if not 0.1 <= level < 1:
            raise ValueError(f"imbalance gives digit 1 a share in [0.1, 1); got {level}")
        p = torch.full((10,), (1 - level) / 9, dtype=torch.float64)
        p[1] = level
        return p
    m = int(level)
    if m != level or not 1 <= m <= 9:
        raise ValueError(f"missing takes a whole number of classes in 1..9; got {level}")
    # one draw from the generator seeds the class order, so a generator seeded alike drops
    # the same classes first at every level (the levels nest)
    order_seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    order = torch.randperm(10, generator=torch.Generator().manual_seed(order_seed))
    p = torch.full((10,), 1 / (10 - m), dtype=torch.float64)
    p[order[:m]] = 0
    return p


def _collapse(images: Tensor, labels: Tensor, repeats: float, g: torch.Generator) -> Tensor:
    """Keep ceil(count / repeats) distinct digits per class and tile them to the count."""
    if not repeats >= 1:
        raise ValueError(f"collapse repeats each kept digit r >= 1 times; got {repeats}")
    out = images.clone()
    for c in labels.unique().tolist():
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(members.numel(), generator=g)]
        keep = members[: max(1, math.ceil(members.numel() / repeats))]
        out[members] = images[keep[torch.arange(members.numel()) % keep.numel()]]
    return out


def _morphology(images: Tensor, level: float, *, dilate: bool) -> Tensor:
    """Grey-level dilation (max) or erosion (min = -max of -x) over a structuring element."""
    shape = _MORPHOLOGY.get(int(level)) if level == int(level) else None
    if shape is None:
        raise ValueError(f"dilate/erode level must be one of {sorted(_MORPHOLOGY)}; got {level}")
    x = images if dilate else -images
    fill = -1.0 if dilate else 1.0  # background stays background at the border
    if shape == "2x2":
        y = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=fill), 2, stride=1)
    elif shape == "cross3":
        p = F.pad(x, (1, 1, 1, 1), value=fill)
        y = torch.stack(
            [
                p[..., 1:-1, 1:-1],
                p[..., :-2, 1:-1],
                p[..., 2:, 1:-1],
                p[..., 1:-1, :-2],
                p[..., 1:-1, 2:],
            ]
        ).amax(0)
    else:
        r = 1 if shape == "3x3" else 2
        y = F.max_pool2d(F.pad(x, (r, r, r, r), value=fill), 2 * r + 1, stride=1)
    return (y if dilate else -y).clamp(-1, 1)


def _gaussian_kernel(sigma: float) -> Tensor:
    if not sigma > 0:
        raise ValueError(f"blur needs sigma > 0; got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (N, C, H, W) in [-1, 1], padded with background (-1)."""
    k = _gaussian_kernel(sigma).to(images)
    r = (k.numel() - 1) // 2
    C = images.shape[1]
    x = F.pad(images + 1, (r, r, r, r))  # background -1 -> 0, so zero padding is background
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)
    return x - 1


def _occlude(images: Tensor, s: int, g: torch.Generator) -> Tensor:
    """Set an s x s patch to background, centred on a random ink pixel (> 0) of each digit."""
    if s < 1:
        raise ValueError(f"occlude needs a patch side >= 1; got {s}")
    out = images.clone()
    N, _, H, W = images.shape
    u = torch.rand(N, generator=g)
    for i in range(N):
        ink = torch.nonzero(images[i, 0] > 0)
        if ink.numel() == 0:
            ink = torch.tensor([[H // 2, W // 2]])
        cy, cx = ink[int(u[i] * ink.shape[0]) % ink.shape[0]].tolist()
        y0, x0 = max(0, cy - s // 2), max(0, cx - s // 2)
        out[i, :, y0 : y0 + s, x0 : x0 + s] = -1.0
    return out


def _patchswap(images: Tensor, s: int, g: torch.Generator) -> Tensor:
    """Swap two s x s patches whose corners are uniform in the central 20x20 region."""
    lo, hi = 4, 24 - s  # patches stay inside rows and columns 4..23
    if s < 1 or hi < lo:
        raise ValueError(f"patchswap needs a patch side in [1, 20]; got {s}")
    out = images.clone()
    corners = torch.randint(lo, hi + 1, (images.shape[0], 4), generator=g)
    for i, (y1, x1, y2, x2) in enumerate(corners.tolist()):
        out[i, :, y1 : y1 + s, x1 : x1 + s] = images[i, :, y2 : y2 + s, x2 : x2 + s]
        out[i, :, y2 : y2 + s, x2 : x2 + s] = images[i, :, y1 : y1 + s, x1 : x1 + s]
    return out


def _rotate(images: Tensor, degrees: float) -> Tensor:
    """Rotate every digit by ``degrees`` about the image centre (bilinear, background fill)."""
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])
    grid = F.affine_grid(
        theta.to(images).expand(images.shape[0], 2, 3), list(images.shape), align_corners=False
    )
    return (F.grid_sample(images + 1, grid, align_corners=False) - 1).clamp(-1, 1)


# ------------------------------------------------------------------ the book's first corruptions
#: the kinds of :func:`corrupt_images`
CORRUPTIONS = ("blur", "noise", "shuffle")


def corrupt_images(
    images: Tensor, kind: str, strength: float, generator: torch.Generator | None = None
) -> Tensor:
    """Corrupt digits (N, 1, H, W) in [-1, 1] to check that FID rises with the corruption.

    The kinds:

    * ``"blur"``: Gaussian blur with standard deviation ``strength`` pixels;
    * ``"noise"``: add Gaussian noise of standard deviation ``strength`` (then clip);
    * ``"shuffle"``: move a fraction ``strength`` in [0, 1] of the pixel positions to
      random places (the same positions in every image, permuted among themselves).

    ``strength = 0`` returns the images unchanged.
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {', '.join(CORRUPTIONS)}")
    if strength < 0:
        raise ValueError(f"strength must be >= 0; got {strength}")
    if strength == 0:
        return images.clone()
    if kind == "blur":
        return _gaussian_blur(images, strength)
    if kind == "noise":
        noise = torch.randn(images.shape, generator=generator).to(images)
        return (images + strength * noise).clamp(-1, 1)
    if strength > 1:
        raise ValueError(f"shuffle strength is a fraction in [0, 1]; got {strength}")
    N, C, H, W = images.shape
    flat = images.reshape(N, C, H * W).clone()
    n_move = int(round(strength * H * W))
    chosen = torch.randperm(H * W, generator=generator)[:n_move]
    flat[:, :, chosen] = flat[:, :, chosen[torch.randperm(n_move, generator=generator)]]
    return flat.reshape(N, C, H, W)
