"""``python -m ddpm_tutorial edit``: img2img, inpainting and inversion from the command line."""

from __future__ import annotations

import numpy as np
import pytest

from ddpm_tutorial.cli import main
from ddpm_tutorial.data.mnist import load_mnist, pick_by_label, to_unit_range


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        status = main(["edit", *argv])
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    out = capsys.readouterr()
    return status, out.out, out.err


def _digit(label: int) -> np.ndarray:
    data = load_mnist("test", verbose=False)
    return data.images[pick_by_label(data.labels, [label])].numpy()


def test_img2img_at_strength_zero_writes_the_held_out_digit_itself(tmp_path, capsys):
    out = tmp_path / "e.npy"
    argv = ["img2img", "--checkpoint", "mnist-ddpm", "--digit", "3", "7", "--strength", "0"]
    status, stdout, _ = _run([*argv, "--out", str(out)], capsys)
    assert status == 0 and "wrote 2 edited image(s) (img2img, strength 0, 0 DDIM steps)" in stdout
    edited = np.load(out)
    assert edited.shape == (2, 1, 28, 28)
    np.testing.assert_array_equal(edited[:1], _digit(3))


def test_img2img_reads_a_grayscale_png_and_writes_inputs_above_edits(tmp_path, capsys):
    from PIL import Image

    pixels = np.round((_digit(5)[0, 0] + 1) * 127.5).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(tmp_path / "in.png")
    argv = ["img2img", "--checkpoint", "mnist-flow", "--image", str(tmp_path / "in.png")]
    status, stdout, _ = _run(
        [*argv, "--strength", "0.3", "--steps", "4", "--out", str(tmp_path / "e.png")], capsys
    )
    assert status == 0 and "strength 0.3, 2 Euler steps" in stdout
    grid = np.asarray(Image.open(tmp_path / "e.png"))
    assert grid.shape[0] > grid.shape[1]  # one column: the input above its edit

    argv = ["img2img", "--checkpoint", "mnist-flow", "--image", str(tmp_path / "in.png")]
    status, _, _ = _run([*argv, "--strength", "0", "--out", str(tmp_path / "same.npy")], capsys)
    np.testing.assert_array_equal(
        np.load(tmp_path / "same.npy")[0, 0], to_unit_range(pixels).numpy()
    )


def test_inpaint_keeps_the_kept_half_of_an_npy_image(tmp_path, capsys):
    np.save(tmp_path / "x.npy", _digit(2)[0, 0])  # (H, W)
    argv = [
        "inpaint",
        "--checkpoint",
        "mnist-ddpm",
        "--image",
        str(tmp_path / "x.npy"),
        "--mask",
        "top",
    ]
    status, stdout, _ = _run(
        [*argv, "--steps", "3", "--resample", "2", "--out", str(tmp_path / "o.npy")], capsys
    )
    assert status == 0 and "inpaint, 3 DDIM steps, resample 2" in stdout
    out = np.load(tmp_path / "o.npy")
    np.testing.assert_array_equal(out[0, 0, :14], _digit(2)[0, 0, :14])
    assert not np.allclose(out[0, 0, 14:], _digit(2)[0, 0, 14:])


def test_invert_writes_the_latents_and_prints_the_round_trip_error(tmp_path, capsys):
    out = tmp_path / "z.npy"
    status, stdout, _ = _run(
        ["invert", "--checkpoint", "mnist-flow", "--digit", "1", "--steps", "3", "--out", str(out)],
        capsys,
    )
    assert status == 0 and "Euler inversion, 3 steps" in stdout
    assert "reconstruction RMSE per image: " in stdout
    assert np.load(out).shape == (1, 1, 28, 28)


def _bad_files(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((32, 32), dtype=np.uint8), mode="L").save(tmp_path / "big.png")
    Image.fromarray(np.zeros((28, 28, 3), dtype=np.uint8), mode="RGB").save(tmp_path / "rgb.png")
    np.save(tmp_path / "two.npy", np.zeros((2, 28, 28), dtype=np.float32))
    np.save(tmp_path / "bytes.npy", np.full((28, 28), 255.0, dtype=np.float32))
    np.save(tmp_path / "x.npy", np.zeros((28, 28), dtype=np.float32))
    np.save(tmp_path / "small_mask.npy", np.ones((14, 14), dtype=np.float32))
    np.save(tmp_path / "grey_mask.npy", np.full((28, 28), 0.5, dtype=np.float32))
    Image.fromarray(np.full((28, 28), 128, dtype=np.uint8), mode="L").save(tmp_path / "grey.png")


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["img2img", "--image", "big.png"],
            "is 32x32; the model takes 28x28 images with 1 channel(s)",
        ),
        (["img2img", "--image", "rgb.png"], "has RGB pixels; give a grayscale PNG"),
        (
            ["img2img", "--image", "two.npy"],
            "has shape (2, 28, 28); the model takes (N, 1, 28, 28)",
        ),
        (["img2img", "--image", "bytes.npy"], "has values in [255, 255]; give images in [-1, 1]"),
        (
            ["img2img", "--image", "x.npy", "--strength", "1.5"],
            "--strength must lie in [0, 1]; got 1.5",
        ),
        (
            ["inpaint", "--image", "x.npy", "--mask", "small_mask.npy"],
            "mask must have shape (1, 1, 28, 28) for images of shape (1, 1, 28, 28); got (1, 1, 14, 14)",
        ),
        (
            ["inpaint", "--image", "x.npy", "--mask", "grey_mask.npy"],
            "mask values must be 0 (generate) or 1 (keep); got [0.5]",
        ),
        (
            ["inpaint", "--image", "x.npy", "--mask", "grey.png"],
            "must hold only 0 (generate) and 255 (keep); got [128.0]",
        ),
        (
            ["inpaint", "--image", "x.npy", "--mask", "middle"],
            "--mask must be a .png, a .npy or one of top, bottom",
        ),
        (["inpaint", "--image", "x.npy"], "edit inpaint needs --mask"),
        (
            ["img2img", "--image", "x.npy", "--mask", "top"],
            "--mask applies to edit inpaint, not to edit img2img",
        ),
        (["invert", "--image", "x.npy", "--resample", "2"], "--resample applies to edit inpaint"),
        (
            ["img2img", "--image", "x.npy", "--prompt", "a 3"],
            "--prompt needs a text-conditional model; 'mnist-ddpm'",
        ),
        (
            ["img2img", "--image", "x.npy", "--guidance-scale", "3"],
            "--guidance-scale needs --prompt",
        ),
        (["img2img", "--digit", "12"], "--digit takes digits 0-9; got 12"),
        (["img2img", "--image", "x.jpg"], "--image must end in .png or .npy"),
    ],
)
def test_each_bad_input_is_one_line_naming_it(argv, message, tmp_path, capsys, monkeypatch):
    _bad_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    status, _, err = _run([*argv, "--checkpoint", "mnist-ddpm", "--out", "o.npy"], capsys)
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err, err
    assert not (tmp_path / "o.npy").exists()


def test_invert_refuses_a_png_out(tmp_path, capsys):
    status, _, err = _run(
        ["invert", "--checkpoint", "mnist-ddpm", "--digit", "1", "--out", str(tmp_path / "z.png")],
        capsys,
    )
    assert status == 2 and "edit invert writes latents to .npy" in err


@pytest.mark.parametrize(
    "checkpoint, message",
    [
        (
            "mnist-classifier",
            "'mnist-classifier' is a 'digit-classifier' network, which cannot edit",
        ),
        ("mnist-imagen", "'mnist-imagen' is a system of several networks"),
        ("mnist-sd", "'mnist-sd' denoises an autoencoder's latents"),
    ],
)
def test_a_checkpoint_that_cannot_edit_is_refused_in_one_line(
    checkpoint, message, tmp_path, capsys
):
    argv = ["img2img", "--checkpoint", checkpoint, "--digit", "3", "--out", str(tmp_path / "o.npy")]
    status, _, err = _run(argv, capsys)
    assert status == 2 and err.count("\n") == 1 and message in err, err


def test_a_prompt_steers_the_edit_of_a_text_conditional_model(tmp_path, capsys):
    base = ["img2img", "--checkpoint", "mnist-text", "--digit", "3", "--strength", "0.6"]
    base += ["--steps", "4"]
    assert _run([*base, "--out", str(tmp_path / "plain.npy")], capsys)[0] == 0
    status, stdout, _ = _run(
        [*base, "--prompt", "a handwritten digit 8", "--out", str(tmp_path / "eight.npy")], capsys
    )
    assert status == 0 and "wrote 1 edited image(s)" in stdout
    assert not np.allclose(np.load(tmp_path / "plain.npy"), np.load(tmp_path / "eight.npy"))
