"""Render the Part V checkpoints' sections of data/README.md (between the part5-checkpoints markers)
from their cards and experiment files: `python tools/render_part5_readme.py`. No number is typed."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARDS, EXP = ROOT / "data/checkpoints", ROOT / "data/experiments"
START, END = "<!-- part5-checkpoints:start -->", "<!-- part5-checkpoints:end -->"


def card(name):
    return json.loads((CARDS / f"{name}.json").read_text())


def exp(name):
    p = EXP / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def f3(x):
    return f"{x:.3f}"


def fid_cell(r):
    f = r["fid"]
    lo, hi = f["interval"] if "interval" in f else (f["low"], f["high"])
    return f"{f['value']:.1f} [{lo:.1f}, {hi:.1f}]"


def iv(r, key):
    m = r[key]
    lo, hi = m["interval"] if "interval" in m else (m["low"], m["high"])
    return f"{m['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def row_of(table, ckpt, sampler, steps):
    for r in table["rows"]:
        if (
            r["checkpoint"] == ckpt
            and r["sampling"]["sampler"] == sampler
            and r["sampling"]["steps"] == steps
        ):
            return r
    return None


def training_line(c):
    t = c["training"]
    cfg = t["config"]
    mins = t["wall_time_s"] / 60
    return (
        f"{t['steps']:,} steps of batch {cfg['batch_size']}, AdamW lr {cfg['learning_rate']:g}, EMA {cfg['ema_decay']}; "
        f"{mins:.0f} min on a 2-core CPU shared with other jobs, {t['torch_threads']} torch thread(s), {t['precision']} "
        f"({t['images_per_second']} images/s on average)"
    )


def quality_table(table, rows, label):
    floor = table["rows"][0]["fid"]["floor_at_n"]
    n = table["num_samples"]
    out = [
        f"| {label} | sampler, steps (network calls) | FID [95%] | coverage [95%] | precision [95%] | recall [95%] |",
        "|---|---|---|---|---|---|",
    ]
    for ck, s, st in dict.fromkeys(rows):
        r = row_of(table, ck, s, st)
        if r is None:
            continue
        out.append(
            f"| {ck} | {s}, {st} ({r['network_calls']}) | {fid_cell(r)} | {iv(r, 'coverage')} | {iv(r, 'precision')} | {iv(r, 'recall')} |"
        )
    out.append("")
    out.append(
        f"n = {n:,} samples per row from the same noise seeds; FID on `mnist-style-features` against the held-out digits, "
        f"real-vs-real floor at n = {n:,}: {floor['mean']:.2f} ± {floor['sd']:.2f}; "
        f"`{table['command']}`."
    )
    return out


def flow_section():
    c = card("mnist-flow")
    s = c["sampling"]
    out = [
        "## mnist-flow",
        "",
        "Part V's flow-matching model: `mnist-ddpm`'s network, data and training budget with the flow-matching objective "
        "(velocity of the straight path `x_t = (1 - t) x0 + t noise`, logit-normal training times).",
        "",
        "| | |",
        "|---|---|",
        f"| network | UNet as `mnist-ddpm`; {c['model']['parameters']:,} parameters |",
        f"| path | flow matching, time sampling {c['schedule']['time_sampling']}, the network sees {c['schedule']['time_scale']:g} t |",
        f"| data | MNIST train split from {c['data']['source']}: {c['data']['num_images']:,} digits |",
        f"| training | {training_line(c)} |",
        f"| command | `{c['command']}` |",
        f"| held-out flow loss | {c['metrics']['heldout_loss']:.3f} |",
        f"| sampling default | {s['sampler']}, {s['steps']} steps; chosen by: {s['chosen_by']} |",
        "",
    ]
    t = exp("samplers-nfe")
    if t:
        out += [
            "Quality against network calls (`data/experiments/samplers-nfe.json`), a few of its rows:",
            "",
        ]
        out += quality_table(
            t,
            [
                ("mnist-ddpm", "ddim", 10),
                ("mnist-ddpm", "dpm-solver++", 10),
                ("mnist-flow", "euler", 10),
                ("mnist-ddpm", "ddim", 50),
                ("mnist-flow", s["sampler"], s["steps"]),
            ],
            "checkpoint",
        )
        out.append("")
    return out


def noisy_section():
    c = card("mnist-noisy-classifier")
    acc = c["metrics"]["heldout_accuracy_by_step"]
    out = [
        "## mnist-noisy-classifier",
        "",
        "The noisy classifier p(y | x_t, t) of classifier guidance (Dhariwal & Nichol 2021), for `mnist-ddpm`'s schedule.",
        "",
        "| | |",
        "|---|---|",
        f"| network | {c['model']['parameters']:,} parameters |",
        f"| data | MNIST train split from {c['data']['source']}: {c['data']['num_images']:,} digits, noised to random steps |",
        f"| training | {c['training']['steps']:,} steps of batch {c['training']['batch_size']}, {c['training']['wall_time_s']:.0f} s, {c['training']['torch_threads']} thread(s) |",
        f"| command | `{c['command']}` |",
        "| held-out accuracy by step | "
        + ", ".join(f"t = {k}: {v:.3f}" for k, v in acc.items())
        + f" ({c['metrics']['evaluated_on']}) |",
        "",
    ]
    t = exp("classifier-guidance")
    if t:
        scales = ", ".join(f"{r['scale']:g}" for r in t["rows"])
        out += [
            f"Guiding `mnist-ddpm` at scales {scales}: see `data/experiments/classifier-guidance.json` "
            f"(n = {t['rows'][0]['n']} per scale) and the chapter Scores, SDEs and ODEs.",
            "",
        ]
    return out


def dit_section():
    if not (CARDS / "mnist-dit.json").exists():
        return []
    c, u = card("mnist-dit"), card("mnist-flow")
    m = c["model"]["config"]
    b = json.loads((ROOT / "benchmarks/results/backbones.json").read_text())["backbones"]["models"]
    dit_b, unet_b = b["DiT, 4x4 patches (mnist-dit)"], b["UNet (mnist-flow)"]
    out = [
        "## mnist-dit",
        "",
        "Part V's transformer denoiser (DiT, Peebles & Xie 2023) in `mnist-flow`'s place: the same data, objective, batch, "
        "steps and learning rate; only the network differs.",
        "",
        "| | |",
        "|---|---|",
        f"| network | DiT, {m['patch_size']}x{m['patch_size']} patches ({(28 // m['patch_size']) ** 2} tokens), width {m['hidden_dim']}, "
        f"{m['depth']} blocks, {m['num_heads']} heads, adaLN-Zero; {c['model']['parameters']:,} parameters (mnist-flow's UNet: {u['model']['parameters']:,}) |",
        f"| cost | {dit_b['seconds_per_step']} s per training step against the UNet's {unet_b['seconds_per_step']} ({dit_b['time_vs_unet']}x), "
        f"batch 64, measured side by side (`python benchmarks/run.py --only backbones`) |",
        f"| data | MNIST train split from {c['data']['source']}: {c['data']['num_images']:,} digits |",
        f"| training | {training_line(c)} |",
        f"| command | `{c['command']}`"
        + (f" (resumed with `{c['resumed_with'][0]}`)" if c.get("resumed_with") else "")
        + " |",
        f"| held-out flow loss | {c['metrics']['heldout_loss']:.3f} (mnist-flow: {u['metrics']['heldout_loss']:.3f}) |",
        f"| sampling default | {c['sampling']['sampler']}, {c['sampling']['steps']} steps"
        + (f"; chosen by: {c['sampling']['chosen_by']}" if c["sampling"].get("chosen_by") else "")
        + " |",
        "",
    ]
    t = exp("dit-vs-unet")
    if t:
        rows = [
            (ck, s, st)
            for r in t["rows"]
            for ck, s, st in [(r["checkpoint"], r["sampling"]["sampler"], r["sampling"]["steps"])]
        ]
        out += [
            "DiT against the UNet at equal network calls (`data/experiments/dit-vs-unet.json`):",
            "",
        ]
        out += quality_table(t, rows, "checkpoint")
        out.append("")
    return out


def text_backbones_section():
    if not (CARDS / "mnist-mmdit.json").exists() or not (CARDS / "mnist-flow-text.json").exists():
        return []
    out = [
        "## mnist-mmdit and mnist-flow-text",
        "",
        "Part V's text-conditioned pair: SD3's MM-DiT (Esser et al. 2024, sec. 4) with `mnist-dit`'s sizes and joint "
        "attention over words and patches (`mnist-mmdit`), against the text UNet with cross-attention "
        "(`mnist-flow-text`); both read the book's captions through a word transformer trained with them, and share "
        "data, objective (flow matching, logit-normal times), batch, steps, learning rate and caption dropout.",
        "",
        "| | mnist-flow-text | mnist-mmdit |",
        "|---|---|---|",
    ]
    u, m = card("mnist-flow-text"), card("mnist-mmdit")
    mc = m["model"]["config"]

    def both(f):
        return f"| {f(u)} | {f(m)} |"

    out += [
        "| network "
        + both(lambda c: f"{c['model']['kind']}, {c['model']['parameters']:,} parameters"),
        f"| MM-DiT sizes | | {mc['patch_size']}x{mc['patch_size']} patches, width {mc['hidden_dim']}, {mc['depth']} blocks, "
        f"{mc['num_heads']} heads; a text stream of its own in every block |",
        "| data "
        + both(
            lambda c: (
                f"{c['data']['num_images']:,} digits from {c['data']['source']}, {c['data']['captions_per_image']} captions each"
            )
        ),
        "| training " + both(training_line),
        "| command "
        + both(
            lambda c: (
                f"`{c['command']}`"
                + (f" (resumed with `{c['resumed_with'][0]}`)" if c.get("resumed_with") else "")
            )
        ),
        "| held-out flow loss " + both(lambda c: f"{c['metrics']['heldout_loss']:.3f}"),
        "| sampling default "
        + both(
            lambda c: (
                f"{c['sampling']['sampler']}, {c['sampling']['steps']} steps, w = {c['sampling']['guidance_scale']:g}"
                + (
                    f"; chosen by: {c['sampling']['chosen_by']}"
                    if c["sampling"].get("chosen_by")
                    else ""
                )
            )
        ),
        "",
    ]
    bench = ROOT / "benchmarks/results/backbones.json"
    if bench.exists():
        b = json.loads(bench.read_text())["backbones"].get("text_models")
        if b:
            cells = "; ".join(
                f"{k}: {r['seconds_per_step']} s ({r['time_vs_unet']}x)" for k, r in b.items()
            )
            out += [
                f"Seconds per training step on batches of 64 captioned digits, side by side: {cells}.",
                "",
            ]
    t = exp("text-backbones")
    if t:
        n = t["num_samples"]
        floor = t["rows"][0]["fid"]["floor_at_n"]
        out += [
            "Both at each guidance scale (`data/experiments/text-backbones.json`), from the same held-out captions and noise seeds:",
            "",
            "| checkpoint | sampler, steps | w | FID [95%] | coverage [95%] | precision [95%] | recall [95%] | prompted digit read [95%] |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in t["rows"]:
            s = r["sampling"]
            out.append(
                f"| {r['checkpoint']} | {s['sampler']}, {s['steps']} | {s['guidance_scale']:g} | {fid_cell(r)} | {iv(r, 'coverage')} | "
                f"{iv(r, 'precision')} | {iv(r, 'recall')} | {iv(r, 'prompted_digit_accuracy')} |"
            )
        out += [
            "",
            f"n = {n:,} samples per row; FID on `mnist-style-features` against the held-out digits, real-vs-real floor at "
            f"n = {n:,}: {floor['mean']:.2f} ± {floor['sd']:.2f}; held-out digits read as their caption's digit: "
            f"{t['rows'][0]['prompted_digit_accuracy']['real']:.3f}; `{t['command']}`.",
            "",
        ]
    return out


def reflow_section():
    if not (CARDS / "mnist-reflow.json").exists():
        return []
    c = card("mnist-reflow")
    d = c["data"]
    out = [
        "## mnist-reflow",
        "",
        "Part V's few-step student: 2-rectified flow (reflow, Liu et al. 2023) of `mnist-flow`, trained on the pairs of noise and "
        "digit that `mnist-flow`'s ODE draws, starting from `mnist-flow`'s weights.",
        "",
        "| | |",
        "|---|---|",
        f"| network | `mnist-flow`'s UNet; {c['model']['parameters']:,} parameters |",
        f"| data | {d['num_pairs']:,} pairs: standard normal noise (seed {d['noise_seed']}) and `{d['teacher']}`'s {d['teacher_solver']} {d['teacher_steps']}-step sample of it (teacher sha256 {str(d['teacher_sha256'])[:12]}...) |",
        f"| training | {training_line(c)}; uniform times |",
        f"| command | `{c['command']}`"
        + (f" (resumed with `{c['resumed_with'][0]}`)" if c.get("resumed_with") else "")
        + " |",
        f"| held-out flow loss (real digits, independent noise) | {c['metrics']['heldout_loss']:.3f} |",
        f"| sampling default | {c['sampling']['sampler']}, {c['sampling']['steps']} steps"
        + (f"; chosen by: {c['sampling']['chosen_by']}" if c["sampling"].get("chosen_by") else "")
        + " |",
        "",
    ]
    t = exp("few-steps")
    if t:
        rows = [
            (r["checkpoint"], r["sampling"]["sampler"], r["sampling"]["steps"]) for r in t["rows"]
        ]
        out += [
            "Student, teacher and `mnist-ddpm` at 1, 2, 4 and 8 network calls (`data/experiments/few-steps.json`):",
            "",
        ]
        out += quality_table(t, rows, "checkpoint")
        out.append("")
    return out


def editing_section():
    t = exp("editing")
    if not t:
        return []
    n = t["num_images"]

    def iv2(m):
        return f"{m['value']:.3f} [{m['interval'][0]:.3f}, {m['interval'][1]:.3f}]"

    out = [
        "## Editing with the shipped models (`data/experiments/editing.json`)",
        "",
        f"n = {n} held-out digits (the same for every row), 95% percentile bootstrap intervals over the images; "
        f"`{t['command']}`.",
        "",
        "DDIM inversion's round trip (invert with N steps, sample back with the same N): RMSE per pixel against the input.",
        "",
        "| checkpoint | sampler | steps N (network calls) | RMSE [95%] |",
        "|---|---|---|---|",
    ]
    for r in t["inversion"]:
        out.append(
            f"| {r['checkpoint']} | {r['sampler']} | {r['steps']} ({r['network_calls']}) | {iv2(r['rmse'])} |"
        )
    out += [
        "",
        "SDEdit (img2img): per strength, the distance to the input and how often the judge still reads the input's digit.",
        "",
        "| checkpoint | strength | network calls | RMSE to the input [95%] | input's digit kept [95%] | read with confidence > 0.9 [95%] |",
        "|---|---|---|---|---|---|",
    ]
    for r in t["sdedit"]:
        out.append(
            f"| {r['checkpoint']} | {r['strength']:g} | {r['network_calls']} | {iv2(r['rmse_to_input'])} | {iv2(r['kept_digit'])} | {iv2(r['confident'])} |"
        )
    out += [
        "",
        "Inpainting (RePaint): half of each digit kept, the other half generated; U = resampling count.",
        "",
        "| checkpoint | half kept | U | network calls | original digit read [95%] | read with confidence > 0.9 [95%] |",
        "|---|---|---|---|---|---|",
    ]
    for r in t["inpainting"]:
        out.append(
            f"| {r['checkpoint']} | {r['kept_half']} | {r['resample']} | {r['network_calls']} | {iv2(r['kept_digit'])} | {iv2(r['confident'])} |"
        )
    out.append("")
    return out


def main():
    path = ROOT / "data/README.md"
    s = path.read_text()
    block = "\n".join(
        [
            START,
            "",
            *flow_section(),
            *noisy_section(),
            *dit_section(),
            *text_backbones_section(),
            *reflow_section(),
            *editing_section(),
            END,
        ]
    )
    if START in s:
        s = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda m: block, s, flags=re.S)
    else:
        anchor = "## Systems: mnist-unclip and mnist-imagen"
        s = s.replace(anchor, block + "\n\n" + anchor)
    path.write_text(s)


if __name__ == "__main__":
    main()
