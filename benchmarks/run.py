"""Speed and quality benchmarks, each comparison run side by side in one process.

    python benchmarks/run.py                      # everything that fits a CPU: train, quality, sample
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
from dataclasses import dataclass
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


# ---------------------------------------------------------------------------- contestants
@dataclass
class Contestant:
    """A noise predictor ``model(x_t, t) -> eps`` and the way it trains."""

    name: str
    model: torch.nn.Module
    precision: str = "fp32"  # ddpm_tutorial.precision name: auto, fp32 or bf16
    channels_last: bool = False


class _Unwrap(torch.nn.Module):
    """diffusers returns ``UNet2DOutput(sample=...)``; the loss wants the tensor."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.inner(x, t)
        return out.sample if hasattr(out, "sample") else out


def benchmark_profile() -> str:
    """The book's profile whose default UNet is benchmarked: full on a GPU, cpu otherwise."""
    return "full" if torch.cuda.is_available() else "cpu"


def ours(precision: str = "auto", *, layout: str = "auto", name: str | None = None) -> Contestant:
    """The book's default UNet of the benchmark profile, trained as ``train_denoiser`` trains it."""
    from ddpm_tutorial.models import UNet
    from ddpm_tutorial.precision import resolve_precision, uses_channels_last
    from ddpm_tutorial.runs import get_config

    device = "cuda" if torch.cuda.is_available() else "cpu"
    channels_last = uses_channels_last(precision, device) if layout == "auto" else layout == "cl"
    label = name or f"ddpm_tutorial UNet ({resolve_precision(precision, device)})"
    return Contestant(
        label, UNet(get_config("mnist", benchmark_profile()).model), precision, channels_last
    )


def diffusers_matched_unet() -> torch.nn.Module | None:
    """diffusers' UNet2DModel built from the same blocks as the book's UNet (same parameter count).

    Same widths per level, the same number of residual blocks (diffusers' up path adds one, as
    ours does), attention at the same resolutions, GroupNorm with the same groups.
    """
    try:
        from diffusers import UNet2DModel
    except ImportError:
        return None
    from ddpm_tutorial.runs import get_config

    cfg = get_config("mnist", benchmark_profile()).model
    widths = tuple(cfg.base_channels * m for m in cfg.channel_mults)
    sizes = [cfg.image_size // 2**i for i in range(len(widths))]
    down = tuple(
        "AttnDownBlock2D" if s in cfg.attention_resolutions else "DownBlock2D" for s in sizes
    )
    up = tuple(d.replace("Down", "Up") for d in reversed(down))
    return _Unwrap(
        UNet2DModel(
            sample_size=cfg.image_size,
            in_channels=cfg.in_channels,
            out_channels=cfg.out_channels,
            layers_per_block=cfg.num_res_blocks,
            block_out_channels=widths,
            down_block_types=down,
            up_block_types=up,
            norm_num_groups=cfg.num_groups,
            attention_head_dim=widths[-1] // cfg.num_heads,
        )
    )


def lucidrains_matched_unet() -> torch.nn.Module | None:
    """denoising-diffusion-pytorch's Unet with the same width multipliers, its ``dim`` chosen
    to bring its parameter count closest to the book's UNet (it has two residual blocks and a
    linear attention per level by design, so it cannot match block for block)."""
    try:
        from denoising_diffusion_pytorch import Unet
    except ImportError:
        return None
    from ddpm_tutorial.models import UNet, count_parameters
    from ddpm_tutorial.runs import get_config

    cfg = get_config("mnist", benchmark_profile()).model
    target = count_parameters(UNet(cfg))
    best = None
    for dim in range(8, 2 * cfg.base_channels + 1, 2):
        model = Unet(dim=dim, dim_mults=cfg.channel_mults, channels=cfg.in_channels)
        gap = abs(count_parameters(model) - target)
        if best is None or gap < best[0]:
            best = (gap, model)
    assert best is not None
    return _Unwrap(best[1])


def reference_contestants() -> list[Contestant]:
    """The reference implementations that are installed, each as its users run it (fp32)."""
    found = []
    for name, build in (
        ("diffusers UNet2DModel (fp32)", diffusers_matched_unet),
        ("lucidrains Unet (fp32)", lucidrains_matched_unet),
    ):
        model = build()
        if model is not None:
            found.append(Contestant(name, model))
    return found


def make_train_step(c: Contestant, schedule: Any, device: str, lr: float = 1e-4) -> Any:
    """One AdamW step of the simple loss on a batch ``x0``, as ``train_denoiser`` takes it."""
    from ddpm_tutorial.losses import noise_prediction_loss
    from ddpm_tutorial.precision import autocast

    c.model.to(device).train()
    if c.channels_last:
        c.model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(c.model.parameters(), lr=lr)

    def step(x0: torch.Tensor, generator: torch.Generator | None = None) -> float:
        if c.channels_last:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        with autocast(c.precision, device):
            loss = noise_prediction_loss(c.model, x0, schedule, generator=generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(c.model.parameters(), 1.0)
        opt.step()
        return loss.detach()

    step.optimizer = opt  # type: ignore[attr-defined]
    return step


# ---------------------------------------------------------------------------- training throughput
def bench_train(batch_size: int = 128, steps_per_round: int = 3, rounds: int = 8) -> dict[str, Any]:
    """Images per second of each contestant's training step, alternating round by round."""
    from ddpm_tutorial.models import count_parameters
    from ddpm_tutorial.schedules import NoiseSchedule

    device = "cuda" if torch.cuda.is_available() else "cpu"
    schedule = NoiseSchedule.linear(1000)
    x0 = torch.rand(batch_size, 1, 28, 28, device=device) * 2 - 1
    field = [
        ours("auto", name="ddpm_tutorial UNet (default path)"),
        ours("fp32", layout="contiguous", name="ddpm_tutorial UNet (fp32, before this work)"),
        ours("fp32", layout="cl", name="ddpm_tutorial UNet (fp32, channels-last)"),
        *reference_contestants(),
    ]
    if diffusers_matched_unet() is not None:  # our precision and layout given to diffusers
        field.append(
            Contestant("diffusers UNet2DModel (bf16 autocast)", diffusers_matched_unet(), "bf16")
        )
        if device == "cpu":
            field.append(
                Contestant(
                    "diffusers UNet2DModel (bf16 autocast, channels-last)",
                    diffusers_matched_unet(),
                    "bf16",
                    True,
                )
            )
    contestants = {}
    for c in field:
        step = make_train_step(c, schedule, device)

        def run(step: Any = step) -> None:
            for _ in range(steps_per_round):
                step(x0)

        run()  # warm-up
        contestants[c.name] = run
    times = alternate(contestants, rounds)
    from ddpm_tutorial.precision import resolve_precision

    out: dict[str, Any] = {
        "batch_size": batch_size,
        "profile": benchmark_profile(),
        "device": device,
        "models": {},
    }
    for c in field:
        med = statistics.median(times[c.name])
        out["models"][c.name] = {
            "parameters": count_parameters(c.model),
            "precision": resolve_precision(c.precision, device),
            "channels_last": c.channels_last,
            "images_per_second": round(batch_size * steps_per_round / med, 1),
            "seconds_per_step": round(med / steps_per_round, 4),
        }
    base = out["models"]["ddpm_tutorial UNet (default path)"]["images_per_second"]
    for r in out["models"].values():
        r["default_path_speedup"] = round(base / r["images_per_second"], 2)
    return out


# ---------------------------------------------------------------------------- backbones (Part V)
def bench_backbones(
    batch_size: int = 64, steps_per_round: int = 2, rounds: int = 8
) -> dict[str, Any]:
    """Seconds per training step of mnist-flow's UNet and of DiTs of its size (flow loss,
    the training precision), alternating round by round: how mnist-dit's budget was matched.
    Then the text pair of the same chapter, on batches of the book's captions: mnist-flow-text's
    UNet with cross-attention against mnist-mmdit's MM-DiT (each with its word transformer)."""
    from ddpm_tutorial.experiments.scoring import heldout_prompts
    from ddpm_tutorial.flow_matching import FlowMatching, flow_matching_loss
    from ddpm_tutorial.models import DiT, DiTConfig, TextDiT, TextUNet, UNet, count_parameters
    from ddpm_tutorial.precision import autocast, resolve_precision
    from ddpm_tutorial.runs import get_config

    device = "cuda" if torch.cuda.is_available() else "cpu"
    path = FlowMatching(time_sampling="logit-normal")
    x0 = torch.rand(batch_size, 1, 28, 28, device=device) * 2 - 1
    dit = get_config("mnist-dit", "cpu").model
    field = {
        "UNet (mnist-flow)": UNet(get_config("mnist-flow", "cpu").model),
        "DiT, 4x4 patches (mnist-dit)": DiT(dit),
        "DiT, 2x2 patches": DiT(DiTConfig(**{**dit.__dict__, "patch_size": 2})),
    }
    text_field = {
        "text UNet, cross-attention (mnist-flow-text)": TextUNet(
            get_config("mnist-flow-text", "cpu").model
        ),
        "MM-DiT, joint attention (mnist-mmdit)": TextDiT(get_config("mnist-mmdit", "cpu").model),
    }
    captions = heldout_prompts(batch_size)  # captions of held-out digits, one per example
    precision = resolve_precision("auto", device)
    contestants = {}
    for name, model in {**field, **text_field}.items():
        model.to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        cond = model.encode_prompts(captions) if name in text_field else None

        def run(model: torch.nn.Module = model, opt: Any = opt, cond: Any = cond) -> None:
            for _ in range(steps_per_round):
                with autocast(precision, device):
                    t = path.sample_times(batch_size, device=device)
                    loss = flow_matching_loss(model, x0, t, torch.randn_like(x0), path, cond=cond)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        run()  # warm-up
        contestants[name] = run
    times = alternate(contestants, rounds)
    out: dict[str, Any] = {"batch_size": batch_size, "precision": precision, "models": {}}

    def rows(models: dict[str, torch.nn.Module], reference: str) -> dict[str, Any]:
        ref_s = statistics.median(times[reference]) / steps_per_round
        table = {}
        for name, model in models.items():
            s = statistics.median(times[name]) / steps_per_round
            table[name] = {
                "parameters": count_parameters(model),
                "tokens": getattr(getattr(model, "config", None), "num_patches", None),
                "seconds_per_step": round(s, 4),
                "time_vs_unet": round(s / ref_s, 2),
            }
        return table

    out["models"] = rows(field, "UNet (mnist-flow)")
    out["text_models"] = rows(text_field, "text UNet, cross-attention (mnist-flow-text)")
    return out


# ---------------------------------------------------------------------------- quality per CPU minute
def _quality(x: torch.Tensor) -> dict[str, Any]:
    """What a reader's ``evaluate`` reports first: FID on mnist-style-features with its basic
    bootstrap interval, n and the real-vs-real floor at n; the classifier's confident share."""
    from ddpm_tutorial.metrics.classifier import digit_quality
    from ddpm_tutorial.metrics.intervals import score_fid

    quality = digit_quality(x)
    return {
        "fid": score_fid(x).as_dict(),
        "confident_fraction": quality["confident_fraction"],
        "class_entropy": quality["class_entropy"],
        "beyond_1_5": round(float((x.abs() > 1.5).float().mean()), 4),
    }


def _fid_cell(fid: dict[str, Any]) -> str:
    """FID as the tables print it: value [interval] (floor at n)."""
    low, high = fid["interval"]
    floor = fid.get("floor_at_n")
    at = f" (floor {floor['mean']:.2f})" if floor else ""
    return f"{fid['value']:.2f} [{low:.2f}, {high:.2f}]{at}"


def bench_quality(
    budget_s: float = 300.0, chunk_s: float = 20.0, num_samples: int = 500, sample_steps: int = 50
) -> dict[str, Any]:
    """Train each contestant from scratch for the same wall-clock budget, then score it.

    The same data (the training digits, in the same order), the same schedule (linear, T=1000),
    the same recipe (the book's cpu profile: batch 64, AdamW at 1e-3 after 100 warm-up steps,
    gradient clipping at 1, EMA 0.999 with warm-up). The contestants take turns in chunks of
    ``chunk_s`` seconds until each has trained ``budget_s``, so drift in the machine's speed hits
    all alike. Then DDIM with ``sample_steps`` steps draws ``num_samples`` digits from each EMA
    model from the same noise, with and without clipping the predicted clean image at each
    step (``clip_x0``; a fresh run's card chooses between them by
    ``data/experiments/clipping-fresh-run.json``), scored as a reader's ``evaluate`` scores
    them (:func:`_quality`).
    """
    from ddpm_tutorial.data.mnist import load_mnist
    from ddpm_tutorial.models import count_parameters
    from ddpm_tutorial.reverse_process import sample_ddim
    from ddpm_tutorial.runs import get_config
    from ddpm_tutorial.schedules import NoiseSchedule
    from ddpm_tutorial.training.ema import EMA
    from ddpm_tutorial.training.lr import warmup_lr

    device = "cuda" if torch.cuda.is_available() else "cpu"
    recipe = get_config("mnist", "cpu")
    schedule = NoiseSchedule.from_name(recipe.schedule, recipe.num_diffusion_steps)
    data = load_mnist("train", verbose=False).images.to(device)
    field = [ours("auto", name="ddpm_tutorial UNet (default path)"), *reference_contestants()]
    runs = []
    for c in field:
        torch.manual_seed(recipe.seed)
        runs.append(
            {
                "c": c,
                "step": make_train_step(c, schedule, device, lr=recipe.learning_rate),
                "ema": EMA(c.model, recipe.ema_decay),
                "batches": torch.Generator().manual_seed(recipe.seed),  # same digits, same order
                "noise": torch.Generator(device=device).manual_seed(recipe.seed + 1),
                "steps": 0,
                "seconds": 0.0,
                "losses": [],
            }
        )
    while any(r["seconds"] < budget_s for r in runs):
        for r in runs:
            chunk_end = min(budget_s, r["seconds"] + chunk_s)
            start = time.perf_counter()
            while r["seconds"] + time.perf_counter() - start < chunk_end:
                for group in r["step"].optimizer.param_groups:
                    group["lr"] = warmup_lr(r["steps"], recipe.learning_rate, recipe.warmup_steps)
                idx = torch.randint(0, data.shape[0], (recipe.batch_size,), generator=r["batches"])
                r["losses"].append(r["step"](data[idx.to(device)], r["noise"]))
                r["ema"].update(r["c"].model)
                r["steps"] += 1
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            r["seconds"] += time.perf_counter() - start
    out: dict[str, Any] = {
        "budget_s": budget_s,
        "num_samples": num_samples,
        "sampler": f"DDIM {sample_steps}",
        "recipe": {
            "batch_size": recipe.batch_size,
            "learning_rate": recipe.learning_rate,
            "warmup_steps": recipe.warmup_steps,
            "ema_decay": recipe.ema_decay,
        },
        "models": {},
    }
    for r in runs:
        model = r["ema"].model.to(memory_format=torch.contiguous_format).eval()
        by_clip = {}
        for clip in (False, True):
            g = torch.Generator().manual_seed(0)
            start = time.perf_counter()
            x = sample_ddim(
                model,
                schedule,
                (num_samples, 1, 28, 28),
                num_steps=sample_steps,
                generator=g,
                clip_x0=clip,
            )
            sample_s = time.perf_counter() - start
            by_clip["clip_x0" if clip else "no clipping"] = {
                **_quality(x),
                "seconds_per_100_samples": round(sample_s * 100 / num_samples, 2),
            }
        last = torch.stack(r["losses"][-50:]).float().mean().item()
        out["models"][r["c"].name] = {
            "parameters": count_parameters(r["c"].model),
            "train_steps": r["steps"],
            "train_seconds": round(r["seconds"], 1),
            "seconds_per_step": round(r["seconds"] / r["steps"], 4),
            "final_train_loss": round(last, 4),
            "sampled": by_clip,
        }
    return out


# ---------------------------------------------------------------------------- sampling
def bench_sampling(num_samples: int = 500, rounds: int = 1) -> dict[str, Any]:
    from ddpm_tutorial.checkpoints import load_checkpoint
    from ddpm_tutorial.precision import resolve_precision
    from ddpm_tutorial.reverse_process import sample_ddim, sample_ddpm

    ckpt = load_checkpoint("mnist-ddpm")
    shape = (num_samples, 1, 28, 28)
    results: dict[str, Any] = {}
    samples: dict[str, torch.Tensor] = {}

    def runner(name: str, steps: int | None, precision: str = "fp32") -> Any:
        def run() -> None:
            g = torch.Generator().manual_seed(0)
            if steps is None:
                samples[name] = sample_ddpm(
                    ckpt.model, ckpt.schedule, shape, generator=g, precision=precision
                )
            else:
                samples[name] = sample_ddim(
                    ckpt.model,
                    ckpt.schedule,
                    shape,
                    num_steps=steps,
                    generator=g,
                    precision=precision,
                )

        return run

    contestants = {"DDPM 1000": runner("DDPM 1000", None)}
    for k in (100, 50, 20, 10):
        contestants[f"DDIM {k}"] = runner(f"DDIM {k}", k)
    device = next(ckpt.model.parameters()).device
    if resolve_precision("auto", device) == "bf16":  # what precision="auto" buys here
        contestants["DDIM 50 (bf16)"] = runner("DDIM 50 (bf16)", 50, "auto")
    times = alternate(contestants, rounds)
    for name, ts in times.items():
        results[name] = {
            "seconds_per_100_samples": round(statistics.median(ts) * 100 / num_samples, 2),
            **_quality(samples[name]),
        }
    base = results["DDPM 1000"]["seconds_per_100_samples"]
    for r in results.values():
        r["speedup_vs_ddpm"] = round(base / r["seconds_per_100_samples"], 1)
    return {"num_samples": num_samples, "samplers": results}


# ---------------------------------------------------------------------------- chapters
def bench_chapters(
    profiles: tuple[str, ...] = ("smoke", "cpu"),
    on_result: Any = None,
) -> dict[str, Any]:
    """Wall time of each chapter alone under ``pytest --nbval-lax``, per profile.

    ``on_result(results_so_far)`` is called after every chapter, so that a long ``cpu`` run
    leaves what it has measured if it is stopped.
    """
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
            if on_result is not None:
                on_result(out)
    return out


# ---------------------------------------------------------------------------- report
def _section(title: str, header: list[str], rows: list[list[Any]]) -> list[str]:
    """A titled markdown table: the first column left-aligned, the others right-aligned."""
    return [
        title,
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
        "",
    ]


def table(results: dict[str, Any]) -> str:
    """The markdown tables of every section in ``results`` (what benchmarks/README.md shows)."""
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['device']}), "
        f"{m['torch_threads']} threads. Measured {results['date']}.",
        "",
    ]
    if "train" in results:
        t = results["train"]
        lines += _section(
            f"Training throughput, batch {t['batch_size']}, 28x28, the {t['profile']}-profile "
            f"UNet on {t['device']}:",
            ["model", "parameters", "precision", "images/s", "s/step", "default path's speed-up"],
            [
                [
                    name,
                    f"{r['parameters']:,}",
                    r["precision"] + (", channels-last" if r["channels_last"] else ""),
                    r["images_per_second"],
                    r["seconds_per_step"],
                    f"{r['default_path_speedup']}x",
                ]
                for name, r in t["models"].items()
            ],
        )
    if "backbones" in results:
        b = results["backbones"]
        lines += _section(
            f"Backbones of Part V, one training step of the flow loss, batch {b['batch_size']}, "
            f"{b['precision']}:",
            ["network", "parameters", "tokens", "s/step", "time against the UNet"],
            [
                [
                    name,
                    f"{r['parameters']:,}",
                    r["tokens"] or "-",
                    r["seconds_per_step"],
                    f"{r['time_vs_unet']}x",
                ]
                for name, r in b["models"].items()
            ],
        )
        if "text_models" in b:
            lines += _section(
                "The text pair, on batches of captions (time against the text UNet):",
                ["network", "parameters", "tokens", "s/step", "time against the text UNet"],
                [
                    [
                        name,
                        f"{r['parameters']:,}",
                        r["tokens"] or "-",
                        r["seconds_per_step"],
                        f"{r['time_vs_unet']}x",
                    ]
                    for name, r in b["text_models"].items()
                ],
            )
    if "quality" in results:
        q = results["quality"]
        lines += _section(
            f"Quality per CPU minute: each trained from scratch for {q['budget_s']:.0f} s, then "
            f"{q['num_samples']} samples by {q['sampler']}, without and with clip_x0 (FID on "
            "mnist-style-features against the held-out digits, [95% basic bootstrap interval], "
            "and the real-vs-real floor at n):",
            [
                "model",
                "parameters",
                "steps in budget",
                "s/step",
                "final loss",
                "sampling",
                "FID",
                "confident fraction",
                "pixels beyond 1.5",
                "s / 100 samples",
            ],
            [
                [
                    name,
                    f"{r['parameters']:,}",
                    r["train_steps"],
                    r["seconds_per_step"],
                    r["final_train_loss"],
                    how,
                    _fid_cell(x["fid"]),
                    x["confident_fraction"],
                    x["beyond_1_5"],
                    x["seconds_per_100_samples"],
                ]
                for name, r in q["models"].items()
                for how, x in r["sampled"].items()
            ],
        )
    if "sampling" in results:
        s = results["sampling"]
        lines += _section(
            f"Sampling mnist-ddpm, {s['num_samples']} samples:",
            [
                "sampler",
                "s / 100 samples",
                "speed-up",
                "FID [interval] (floor)",
                "confident fraction",
                "class entropy",
            ],
            [
                [
                    name,
                    r["seconds_per_100_samples"],
                    f"{r['speedup_vs_ddpm']}x",
                    _fid_cell(r["fid"]),
                    r["confident_fraction"],
                    r["class_entropy"],
                ]
                for name, r in s["samplers"].items()
            ],
        )
    if "chapters" in results:
        profiles = list(next(iter(results["chapters"].values())).keys())
        lines += _section(
            "Chapter wall time (pytest --nbval-lax, one chapter at a time):",
            ["chapter", *profiles],
            [
                [
                    name,
                    *(
                        f"{v['seconds']} s" + ("" if v["passed"] else " (failed)")
                        for v in r.values()
                    ),
                ]
                for name, r in results["chapters"].items()
            ],
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        choices=("train", "backbones", "quality", "sampling", "chapters"),
        action="append",
        help="run only these sections (repeatable); default: train, quality and sampling",
    )
    parser.add_argument("--samples", type=int, default=500, help="samples per sampler or model")
    parser.add_argument(
        "--budget", type=float, default=300.0, help="training seconds per model (quality section)"
    )
    parser.add_argument(
        "--profiles",
        nargs="+",
        choices=("smoke", "cpu", "full"),
        default=["smoke", "cpu"],
        help="profiles the chapters section runs each chapter under",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    sections = args.only or ["train", "quality", "sampling"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/run.py " + " ".join(argv or sys.argv[1:]),
    }
    if "train" in sections:
        results["train"] = bench_train()
    if "backbones" in sections:
        results["backbones"] = bench_backbones()
    if "quality" in sections:
        results["quality"] = bench_quality(args.budget, num_samples=args.samples)
    if "sampling" in sections:
        results["sampling"] = bench_sampling(args.samples)
    if "chapters" in sections:

        def partial(chapters: dict[str, Any]) -> None:
            args.out.write_text(json.dumps({**results, "chapters": chapters}, indent=2) + "\n")

        results["chapters"] = bench_chapters(tuple(args.profiles), on_result=partial)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
