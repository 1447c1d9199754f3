"""Speed and quality benchmarks, each comparison run side by side in one process.

    python benchmarks/run.py                      # everything that fits a CPU: train, sample
    python benchmarks/run.py --only train         # one section
    python benchmarks/run.py --only chapters      # wall time of each chapter (smoke and cpu)

Timings on a shared machine drift, so every comparison alternates its contestants round by
round and reports medians and ratios measured in the same run. Results go to
``benchmarks/results/latest.json`` and the table printed at the end is what
``benchmarks/README.md`` shows. Nothing here is a unit test: no timing is ever asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def alternate(contestants: dict[str, Any], rounds: int) -> dict[str, list[float]]:
    """Call each contestant once per round, in turn; return its wall times."""
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, fn in contestants.items():
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return times


# ---------------------------------------------------------------------------- training throughput
def diffusers_matched_unet() -> torch.nn.Module | None:
    """diffusers' UNet2DModel shaped like the book's cpu-profile UNet (same parameter count)."""
    try:
        from diffusers import UNet2DModel
    except ImportError:
        return None
    return UNet2DModel(
        sample_size=28,
        in_channels=1,
        out_channels=1,
        layers_per_block=1,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=16,
    )


def bench_train(batch_size: int = 128, steps_per_round: int = 3, rounds: int = 5) -> dict[str, Any]:
    from ddpm_tutorial.configs import get_config
    from ddpm_tutorial.losses import noise_prediction_loss
    from ddpm_tutorial.models import UNet, count_parameters
    from ddpm_tutorial.schedules import NoiseSchedule

    device = "cuda" if torch.cuda.is_available() else "cpu"
    schedule = NoiseSchedule.linear(1000)
    x0 = torch.rand(batch_size, 1, 28, 28, device=device) * 2 - 1
    models: dict[str, torch.nn.Module] = {
        "ddpm_tutorial UNet": UNet(get_config("mnist", "cpu").model)
    }
    reference = diffusers_matched_unet()
    if reference is not None:

        class Wrapped(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return self.inner(x, t).sample

        models["diffusers UNet2DModel"] = Wrapped(reference)
    contestants = {}
    for name, model in models.items():
        model.to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model: torch.nn.Module = model, opt: torch.optim.Optimizer = opt) -> None:
            for _ in range(steps_per_round):
                loss = noise_prediction_loss(model, x0, schedule)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        step()  # warm-up
        contestants[name] = step
    times = alternate(contestants, rounds)
    out: dict[str, Any] = {"batch_size": batch_size, "models": {}}
    for name, ts in times.items():
        med = statistics.median(ts)
        out["models"][name] = {
            "parameters": count_parameters(models[name]),
            "images_per_second": round(batch_size * steps_per_round / med, 1),
            "seconds_per_step": round(med / steps_per_round, 4),
        }
    if len(times) > 1:
        ours = out["models"]["ddpm_tutorial UNet"]["images_per_second"]
        theirs = out["models"]["diffusers UNet2DModel"]["images_per_second"]
        out["speedup_vs_diffusers"] = round(ours / theirs, 3)
    return out


# ---------------------------------------------------------------------------- sampling
def bench_sampling(num_samples: int = 100, rounds: int = 1) -> dict[str, Any]:
    from ddpm_tutorial.checkpoints import load_checkpoint
    from ddpm_tutorial.digit_classifier import digit_quality
    from ddpm_tutorial.fid import fid
    from ddpm_tutorial.reverse_process import sample_ddim, sample_ddpm

    ckpt = load_checkpoint("mnist-ddpm")
    shape = (num_samples, 1, 28, 28)
    results: dict[str, Any] = {}
    samples: dict[str, torch.Tensor] = {}

    def runner(name: str, steps: int | None) -> Any:
        def run() -> None:
            g = torch.Generator().manual_seed(0)
            if steps is None:
                samples[name] = sample_ddpm(ckpt.model, ckpt.schedule, shape, generator=g)
            else:
                samples[name] = sample_ddim(
                    ckpt.model, ckpt.schedule, shape, num_steps=steps, generator=g
                )

        return run

    contestants = {"DDPM 1000": runner("DDPM 1000", None)}
    for k in (100, 50, 20, 10):
        contestants[f"DDIM {k}"] = runner(f"DDIM {k}", k)
    times = alternate(contestants, rounds)
    for name, ts in times.items():
        quality = digit_quality(samples[name])
        results[name] = {
            "seconds_per_100_samples": round(statistics.median(ts) * 100 / num_samples, 2),
            "fid": round(fid(samples[name]), 3),  # offline mnist-features FID, held-out digits
            "confident_fraction": quality["confident_fraction"],
            "class_entropy": quality["class_entropy"],
        }
    base = results["DDPM 1000"]["seconds_per_100_samples"]
    base_fid = results["DDPM 1000"]["fid"]
    for r in results.values():
        r["speedup_vs_ddpm"] = round(base / r["seconds_per_100_samples"], 1)
        r["fid_vs_ddpm"] = round(r["fid"] / base_fid, 3)
    return {"num_samples": num_samples, "samplers": results}


# ---------------------------------------------------------------------------- chapters
def bench_chapters(profiles: tuple[str, ...] = ("smoke", "cpu")) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tools"))
    import colab_cell

    out: dict[str, Any] = {}
    for path in colab_cell.chapters(ROOT):
        rel = str(path.relative_to(ROOT))
        out[rel] = {}
        for profile in profiles:
            env = {**os.environ, "DDPM_TUTORIAL_PROFILE": profile, "DDPM_TUTORIAL_OFFLINE": "1"}
            start = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "--nbval-lax",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    rel,
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            out[rel][profile] = {
                "seconds": round(time.perf_counter() - start, 1),
                "passed": proc.returncode == 0,
            }
    return out


# ---------------------------------------------------------------------------- report
def table(results: dict[str, Any]) -> str:
    lines = [
        f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
        f"torch {results['machine']['torch']} ({results['machine']['device']}), "
        f"{results['machine']['torch_threads']} threads. Measured {results['date']}.",
        "",
    ]
    if "train" in results:
        t = results["train"]
        lines += [
            f"Training throughput, batch {t['batch_size']}, 28x28:",
            "",
            "| model | parameters | images/s | s/step |",
            "|---|---:|---:|---:|",
        ]
        for name, r in t["models"].items():
            lines.append(
                f"| {name} | {r['parameters']:,} | {r['images_per_second']} | {r['seconds_per_step']} |"
            )
        if "speedup_vs_diffusers" in t:
            lines += [
                "",
                f"ddpm_tutorial / diffusers throughput ratio: {t['speedup_vs_diffusers']}",
            ]
        lines.append("")
    if "sampling" in results:
        s = results["sampling"]
        lines += [
            f"Sampling mnist-ddpm, {s['num_samples']} samples:",
            "",
            "| sampler | s / 100 samples | speed-up | FID | FID / DDPM's | confident fraction | class entropy |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in s["samplers"].items():
            lines.append(
                f"| {name} | {r['seconds_per_100_samples']} | {r['speedup_vs_ddpm']}x | "
                f"{r.get('fid', '')} | {r.get('fid_vs_ddpm', '')} | "
                f"{r['confident_fraction']} | {r['class_entropy']} |"
            )
        lines.append("")
    if "chapters" in results:
        lines += [
            "Chapter wall time (pytest --nbval-lax, one chapter at a time):",
            "",
            "| chapter | " + " | ".join(next(iter(results["chapters"].values())).keys()) + " |",
            "|---|" + "---:|" * len(next(iter(results["chapters"].values()))),
        ]
        for name, r in results["chapters"].items():
            lines.append(
                f"| {name} | "
                + " | ".join(
                    f"{v['seconds']} s" + ("" if v["passed"] else " (failed)") for v in r.values()
                )
                + " |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        choices=("train", "sampling", "chapters"),
        action="append",
        help="run only these sections (repeatable); default: train and sampling",
    )
    parser.add_argument("--samples", type=int, default=100, help="samples per sampler")
    parser.add_argument(
        "--profiles",
        nargs="+",
        choices=("smoke", "cpu", "full"),
        default=["smoke", "cpu"],
        help="profiles the chapters section runs each chapter under",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    sections = args.only or ["train", "sampling"]
    results: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/run.py " + " ".join(argv or sys.argv[1:]),
    }
    if "train" in sections:
        results["train"] = bench_train()
    if "sampling" in sections:
        results["sampling"] = bench_sampling(args.samples)
    if "chapters" in sections:
        results["chapters"] = bench_chapters(tuple(args.profiles))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
