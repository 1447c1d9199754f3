"""Figures: image grids, trajectories, and an animation that works in static HTML.

Depends on nothing else in the package. Images are tensors or arrays in [-1, 1] of shape
(B, C, H, W) or (B, H, W); for display they are mapped to [0, 1] by ``(x + 1) / 2`` and
clipped (the data themselves are never clipped here).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "to_display",
    "image_grid",
    "save_image_grid",
    "save_scatter",
    "show_images",
    "animate_images",
    "jshtml",
    "draw_pipeline",
]


def to_display(images: Any) -> np.ndarray:
    """Images in [-1, 1], (B, C, H, W) or (B, H, W) -> float array in [0, 1], (B, H, W[, 3])."""
    x = (
        images.detach().cpu().float().numpy()
        if isinstance(images, torch.Tensor)
        else np.asarray(images, dtype=np.float32)
    )
    if x.ndim == 4:
        if x.shape[1] == 1:
            x = x[:, 0]
        elif x.shape[1] == 3:
            x = x.transpose(0, 2, 3, 1)
        else:
            raise ValueError(f"images must have 1 or 3 channels; got shape {x.shape}")
    elif x.ndim != 3:
        raise ValueError(f"images must have shape (B, C, H, W) or (B, H, W); got {x.shape}")
    return np.clip((x + 1.0) / 2.0, 0.0, 1.0)


def image_grid(
    images: Any, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0
) -> np.ndarray:
    """Tile images into one array of shape (rows*(H+p)+p, cols*(W+p)+p[, 3]) in [0, 1]."""
    x = to_display(images)
    B, H, W = x.shape[:3]
    cols = nrow or int(math.ceil(math.sqrt(B)))
    rows = int(math.ceil(B / cols))
    shape = (rows * (H + padding) + padding, cols * (W + padding) + padding, *x.shape[3:])
    grid = np.full(shape, pad_value, dtype=np.float32)
    for i in range(B):
        r, c = divmod(i, cols)
        y0, x0 = padding + r * (H + padding), padding + c * (W + padding)
        grid[y0 : y0 + H, x0 : x0 + W] = x[i]
    return grid


def save_image_grid(
    images: Any, path: str | os.PathLike[str], nrow: int | None = None, scale: int = 2
) -> None:
    """Write a PNG grid of ``images``, each pixel repeated ``scale`` times."""
    import matplotlib.image

    grid = image_grid(images, nrow)
    grid = (
        np.kron(grid, np.ones((scale, scale)))
        if grid.ndim == 2
        else grid.repeat(scale, 0).repeat(scale, 1)
    )
    matplotlib.image.imsave(os.fspath(path), grid, cmap="gray", vmin=0.0, vmax=1.0)


def save_scatter(
    points: Any,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    size: float = 4.0,
) -> None:
    """Write a PNG scatter plot of 2-D points, shape (N, 2), such as samples of the 2-D toys.

    Equal scales on both axes, so that a circle looks round; small translucent dots, so that
    dense regions read darker. Unlike images, points are plotted as they are (no [-1, 1] map).

    Args:
        points: tensor or array of shape (N, 2).
        path: the PNG to write.
        title: a title above the plot (default: the number of points).
        size: the figure's width and height in inches.
    """
    from matplotlib.figure import Figure

    x = (
        points.detach().cpu().float().numpy()
        if isinstance(points, torch.Tensor)
        else np.asarray(points, dtype=np.float32)
    )
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"a scatter plot needs points of shape (N, 2); got {x.shape}")
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    ax.scatter(x[:, 0], x[:, 1], s=4, alpha=0.5, linewidths=0)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title if title is not None else f"{len(x)} points")
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)


def show_images(
    images: Any,
    *,
    nrow: int | None = None,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    size: float = 1.2,
    ax: Any = None,
) -> Any:
    """Show images with matplotlib: one grid (``titles=None``), or titled panels.

    Titled panels fill ``nrow`` columns per row (default: all in one row).
    """
    import matplotlib.pyplot as plt

    x = to_display(images)
    if titles is None:
        if ax is None:
            cols = nrow or int(math.ceil(math.sqrt(len(x))))
            rows = int(math.ceil(len(x) / cols))
            _, ax = plt.subplots(figsize=(size * cols, size * rows))
        ax.imshow(image_grid(images, nrow), cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        if title:
            ax.set_title(title)
        return ax
    if len(titles) != len(x):
        raise ValueError(f"got {len(titles)} titles for {len(x)} images")
    cols = min(nrow or len(x), len(x))
    rows = int(math.ceil(len(x) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(size * 1.4 * cols, size * 1.6 * rows), squeeze=False
    )
    for a in axes.flat[len(x) :]:
        a.set_axis_off()
    for a, img, t in zip(axes.flat, x, titles):
        a.imshow(img, cmap="gray", vmin=0, vmax=1)
        a.set_title(t, fontsize=9)
        a.set_axis_off()
    if title:
        fig.suptitle(title)
    if rows == 1:
        return axes[0] if cols > 1 else axes[0, 0]
    return axes


def animate_images(
    frames: Any,
    *,
    labels: Sequence[str] | None = None,
    nrow: int | None = None,
    interval: int = 120,
    size: float = 4.0,
) -> Any:
    """A matplotlib animation over frames, each a batch of images: shape (S, B, C, H, W).

    Returns a ``matplotlib.animation.FuncAnimation``; ``anim.to_jshtml()`` turns it into HTML
    with a play button and a scrubber that works in a static page, without a kernel.
    """
    import matplotlib.pyplot as plt
    from matplotlib import animation

    frames = list(frames)
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"got {len(labels)} labels for {len(frames)} frames")
    grids = [image_grid(f, nrow) for f in frames]
    fig, ax = plt.subplots(figsize=(size, size * grids[0].shape[0] / grids[0].shape[1] + 0.4))
    im = ax.imshow(grids[0], cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    title = ax.set_title(labels[0] if labels else "")

    def update(i: int) -> tuple[Any, ...]:
        im.set_data(grids[i])
        title.set_text(labels[i] if labels else "")
        return im, title

    anim = animation.FuncAnimation(fig, update, frames=len(grids), interval=interval, blit=False)
    plt.close(fig)
    return anim


_FONT_AWESOME_CDN = re.compile(r"<link[^>]*font-awesome[^>]*>\s*")


def jshtml(anim: Any, **kwargs: Any) -> str:
    """``anim.to_jshtml(**kwargs)`` without the stylesheet matplotlib loads from a CDN.

    Matplotlib's player links Font Awesome 4 from ``maxcdn.bootstrapcdn.com`` for its button
    icons; a page that must read offline cannot load it. The book's theme ships Font Awesome,
    which styles the same ``fa fa-play``-style icons, so the link is dropped.
    """
    return _FONT_AWESOME_CDN.sub("", anim.to_jshtml(**kwargs))


def draw_pipeline(
    stages: Sequence[tuple[str, str]],
    *,
    inputs: str | None = None,
    output: str | None = None,
    ax: Any = None,
    width: float = 2.6,
) -> Any:
    """A block diagram of a generation system: boxes left to right, joined by arrows.

    Args:
        stages: ``(title, detail)`` per box, e.g. ``("text encoder", "CLIP ViT-L/14, 123M")``.
        inputs: a label left of the first box (e.g. ``'"a red cube"'``).
        output: a label right of the last box.
        ax: matplotlib axes to draw into (default: a new figure).
        width: width of a box in axes units (boxes are 1 apart plus this width).

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if not stages:
        raise ValueError("draw_pipeline needs at least one stage")
    gap = 0.9
    n = len(stages)
    total = n * width + (n - 1) * gap + (2 * 1.6 if inputs or output else 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 1.15 * total), 1.9))
    x = 1.6 if inputs else 0.0
    colours = ("#dbe9f6", "#fde8c8", "#dff2dd", "#f3dcef", "#e8e8e8")
    if inputs:
        ax.text(0.0, 0.5, inputs, ha="left", va="center", fontsize=9, style="italic")
        ax.add_patch(
            FancyArrowPatch((1.05, 0.5), (x - 0.05, 0.5), arrowstyle="-|>", mutation_scale=12)
        )
    for i, (title, detail) in enumerate(stages):
        ax.add_patch(
            FancyBboxPatch(
                (x, 0.1),
                width,
                0.8,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                facecolor=colours[i % len(colours)],
                edgecolor="0.3",
            )
        )
        ax.text(x + width / 2, 0.64, title, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x + width / 2, 0.33, detail, ha="center", va="center", fontsize=8, wrap=True)
        if i < n - 1:
            ax.add_patch(
                FancyArrowPatch(
                    (x + width + 0.05, 0.5),
                    (x + width + gap - 0.05, 0.5),
                    arrowstyle="-|>",
                    mutation_scale=12,
                )
            )
        x += width + gap
    if output:
        x -= gap
        ax.add_patch(
            FancyArrowPatch((x + 0.05, 0.5), (x + 0.6, 0.5), arrowstyle="-|>", mutation_scale=12)
        )
        ax.text(x + 0.7, 0.5, output, ha="left", va="center", fontsize=9, style="italic")
        x += 1.6
    ax.set_xlim(-0.1, x + 0.1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return ax
