"""Figures: display mapping, grids, PNG files, an animation that works in static HTML."""

from __future__ import annotations

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ddpm_tutorial.plotting import (
    animate_images,
    image_grid,
    save_image_grid,
    show_images,
    to_display,
)


def test_display_maps_minus_one_one_to_zero_one_and_clips_only_for_display():
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0]).reshape(1, 1, 1, 5)
    np.testing.assert_allclose(to_display(x), [[[0.0, 0.0, 0.5, 1.0, 1.0]]])
    assert x.min().item() == -3.0, "the data themselves are not clipped"


def test_display_accepts_gray_color_and_channel_free_images():
    assert to_display(np.zeros((2, 1, 4, 5))).shape == (2, 4, 5)
    assert to_display(torch.zeros(2, 3, 4, 5)).shape == (2, 4, 5, 3)
    assert to_display(np.zeros((2, 4, 5))).shape == (2, 4, 5)


def test_grid_tiles_images_with_padding():
    grid = image_grid(torch.zeros(5, 1, 28, 28), nrow=3, padding=2)
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2)
    assert grid[0, 0] == 1.0 and grid[2, 2] == 0.5  # padding white, a zero pixel mid grey


def test_save_image_grid_writes_a_png_of_the_scaled_grid(tmp_path):
    path = tmp_path / "grid.png"
    save_image_grid(torch.zeros(4, 1, 28, 28), path, scale=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(path).shape[:2] == (2 * 62, 2 * 62)


def test_show_images_draws_a_grid_or_titled_panels():
    ax = show_images(torch.zeros(4, 1, 8, 8), title="four")
    assert ax.get_title() == "four"
    axes = show_images(torch.zeros(3, 1, 8, 8), titles=["a", "b", "c"])
    assert [a.get_title() for a in axes] == ["a", "b", "c"]
    plt.close("all")


def test_animation_renders_to_self_contained_html():
    frames = torch.linspace(-1, 1, 3).reshape(3, 1, 1, 1, 1).expand(3, 2, 1, 8, 8)
    html = animate_images(frames, labels=["t=2", "t=1", "t=0"], size=1.5).to_jshtml()
    assert "<script" in html and html.count("data:image/png;base64") == 3


def test_plotting_refuses_mismatched_labels_and_odd_channel_counts():
    with pytest.raises(ValueError, match="1 or 3 channels"):
        to_display(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="got 2 titles for 3 images"):
        show_images(torch.zeros(3, 1, 4, 4), titles=["a", "b"])
    with pytest.raises(ValueError, match="got 1 labels for 2 frames"):
        animate_images(torch.zeros(2, 1, 1, 4, 4), labels=["x"])


def test_jshtml_animation_loads_nothing_from_a_cdn():
    import matplotlib

    matplotlib.use("Agg")
    from ddpm_tutorial.plotting import animate_images, jshtml

    anim = animate_images(torch.rand(3, 2, 1, 8, 8) * 2 - 1, labels=["a", "b", "c"])
    html = jshtml(anim)
    assert "<script" in html and "anim" in html.lower()
    assert "bootstrapcdn" not in html and "https://" not in html


def test_titled_panels_wrap_into_rows_of_nrow():
    axes = show_images(torch.zeros(5, 1, 8, 8), titles=list("abcde"), nrow=2)
    assert axes.shape == (3, 2)
    assert [a.get_title() for a in axes.flat[:5]] == list("abcde")
    assert not axes.flat[5].axison  # the empty panel is hidden


def test_draw_pipeline_draws_one_box_per_stage():
    import matplotlib.pyplot as plt

    from ddpm_tutorial.plotting import draw_pipeline

    ax = draw_pipeline(
        [("text encoder", "CLIP"), ("generator", "UNet"), ("decoder", "VAE")],
        inputs='"a 3"',
        output="image",
    )
    boxes = [p for p in ax.patches if type(p).__name__ == "FancyBboxPatch"]
    assert len(boxes) == 3
    assert {"text encoder", "generator", "decoder"} <= {t.get_text() for t in ax.texts}
    plt.close("all")
    with pytest.raises(ValueError, match="at least one"):
        draw_pipeline([])
