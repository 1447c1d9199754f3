"""Link each glossary term where it first appears in each chapter: ``{term}`text <Term>```.

    python tools/link_glossary.py          # rewrite the chapters in place (idempotent)

Only prose is touched: not headings, code, math, links, directive options or text that
already carries a role.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import colab_cell  # noqa: E402

# (glossary entry, phrases that count as an appearance, longest first)
TERMS: list[tuple[str, list[str]]] = [
    ("Diffusion model", ["diffusion models", "diffusion model"]),
    ("Forward process", ["forward process"]),
    ("Reverse process", ["reverse process"]),
    ("Denoise module", ["denoise module"]),
    ("Noise predictor", ["noise predictor"]),
    ("Noise schedule", ["noise schedule"]),
    ("Ground truth", ["ground truth"]),
    ("Gaussian noise", ["Gaussian noise"]),
    ("Pure noise", ["pure noise"]),
    ("Timestep", ["timestep"]),
    ("Posterior", ["posterior"]),
    ("Evidence lower bound", ["evidence lower bound", "ELBO"]),
    ("KL divergence", ["KL divergence"]),
    ("Signal-to-noise ratio", ["signal-to-noise ratio"]),
    ("Exponential moving average", ["exponential moving average"]),
    ("Mean squared error", ["mean squared error"]),
    ("Markov chain", ["Markov chain"]),
    ("Deterministic sampling", ["deterministic"]),
    ("Self-attention", ["self-attention"]),
    ("Checkpoint", ["checkpoint"]),
    ("Closed form", ["closed form"]),
    ("Reparameterization trick", ["reparameterization trick", "reparameterisation trick"]),
    ("Dynamic thresholding", ["dynamic thresholding"]),
    ("Classifier-free guidance", ["classifier-free guidance"]),
    ("Guidance scale", ["guidance scale"]),
    ("Text encoder", ["text encoder"]),
    ("Cross-attention", ["cross-attention"]),
    ("Text-to-image generation", ["text-to-image"]),
    ("FID", ["FID"]),
    ("CLIP score", ["CLIP score"]),
    ("Autoencoder", ["autoencoder"]),
    ("Latent space", ["latent space"]),
    ("Super-resolution", ["super-resolution"]),
]

PROTECTED = re.compile(
    r"\{[a-z:-]+\}`[^`]*`|`[^`]*`|\$\$[^$]*\$\$|\$[^$]*\$|\[[^\]]*\]\([^)]*\)|<[^>]+>|https?://\S+"
)


def link_once(text: str, phrase: str, term: str) -> tuple[str, bool]:
    """Wrap the first prose occurrence of ``phrase`` in ``text``; return (text, linked?)."""
    lines = text.split("\n")
    in_fence = False
    in_math = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            in_fence = not in_fence if not re.match(r"^(```|~~~)\{", stripped) else in_fence
            continue
        if stripped.startswith("$$"):
            in_math = not in_math if stripped.count("$$") == 1 else in_math
            continue
        if in_fence or in_math or stripped.startswith(("#", ":", "|---", "(", "<")):
            continue
        pieces, last = [], 0
        for m in PROTECTED.finditer(line):
            pieces.append((line[last : m.start()], True))
            pieces.append((m.group(0), False))
            last = m.end()
        pieces.append((line[last:], True))
        pattern = re.compile(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", re.IGNORECASE)
        for j, (piece, free) in enumerate(pieces):
            if not free:
                continue
            m = pattern.search(piece)
            if m:
                linked = f"{{term}}`{m.group(0)} <{term}>`"
                pieces[j] = (piece[: m.start()] + linked + piece[m.end() :], False)
                lines[i] = "".join(p for p, _ in pieces)
                return "\n".join(lines), True
    return text, False


def main() -> int:
    total = 0
    for path in colab_cell.chapters():
        nb = nbformat.read(path, as_version=4)
        text_cells = [c for c in nb.cells if c.cell_type == "markdown"]
        for term, phrases in TERMS:
            if any(f"<{term}>`" in c.source for c in text_cells):
                continue
            done = False
            for cell in text_cells[1:]:  # never the title cell
                for phrase in phrases:
                    cell.source, done = link_once(cell.source, phrase, term)
                    if done:
                        total += 1
                        break
                if done:
                    break
        nbformat.write(nb, path)
    print(f"linked {total} glossary terms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
