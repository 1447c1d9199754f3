"""Recompute an experiment's rankings and recommended defaults from its measured rows.

    python tools/rerank.py data/experiments/guidance-tradeoff.json [...]

The rows (what was sampled and scored) stay as the experiment wrote them; the decisions are
recomputed by :func:`ddpm_tutorial.experiments.ranking.rerank` and the file records the
command in ``reranked_by``. For tables measured before a change of the ranking rules.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ddpm_tutorial.experiments.ranking import rerank


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    for name in argv:
        path = Path(name)
        table = rerank(json.loads(path.read_text()))
        table["reranked_by"] = "python tools/rerank.py " + " ".join(argv)
        path.write_text(json.dumps(table, indent=2) + "\n")
        best = table.get("recommended_default", {}).get("label")
        print(f"{path}: reranked" + (f"; recommended default {best}" if best else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
