"""A newcomer's typos: one line on stderr, exit status 2, and the nearest right answer."""

from __future__ import annotations

import pytest

from ddpm_tutorial.cli import main


def _status_and_stderr(argv: list[str], capsys) -> tuple[int, str]:
    """Run main(argv): a usage error from argparse raises SystemExit, one from a command returns."""
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    return status, capsys.readouterr().err


def test_an_underscored_flag_is_refused_in_one_line_naming_the_hyphenated_one(capsys):
    argv = ["sample", "--checkpoint", "mnist-ddpm", "--num_samples", "4", "--out", "x.npy"]
    status, err = _status_and_stderr(argv, capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err == "error: unrecognized arguments: --num_samples; did you mean --num-samples?\n"


@pytest.mark.parametrize(
    "typo, nearest",
    [("mnist-dpm", "mnist-ddpm"), ("mnist-imagn", "mnist-imagen"), ("mnist_sd", "mnist-sd")],
)
def test_a_mistyped_checkpoint_name_lists_the_names_and_suggests_the_nearest(
    typo, nearest, capsys, tmp_path
):
    argv = ["sample", "--checkpoint", typo, "--num-samples", "2", "--out", str(tmp_path / "x.npy")]
    status, err = _status_and_stderr(argv, capsys)
    assert status == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: no checkpoint named {typo!r}; did you mean {nearest}? ")
    assert "checkpoints: mnist-autoencoder, " in err and "mnist-ddpm" in err
    assert "systems: mnist-imagen, mnist-unclip" in err
    assert "looked in " in err and not (tmp_path / "x.npy").exists()


def test_publish_copies_a_run_into_a_checkpoint_folder(tmp_path, capsys):
    from ddpm_tutorial.checkpoints import load_checkpoint

    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                "toy-moons",
                "--profile",
                "smoke",
                "--out",
                str(run),
                "--num-train-steps",
                "5",
                "--no-progress",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    dest = tmp_path / "data" / "checkpoints"
    assert main(["publish", "--run", str(run), "--name", "toy", "--dest", str(dest)]) == 0
    assert "published toy" in capsys.readouterr().out
    assert load_checkpoint(dest / "toy.safetensors").card["name"] == "toy"
    argv = ["publish", "--run", str(run), "--name", "toy2", "--dest", str(dest)]
    assert main([*argv, "--sampler", "heun", "--steps", "7", "--chosen-by", "a table"]) == 0
    sampling = load_checkpoint(dest / "toy2.safetensors").card["sampling"]
    assert (sampling["sampler"], sampling["steps"], sampling["chosen_by"]) == ("heun", 7, "a table")
    assert main([*argv, "--steps", "0"]) == 2
