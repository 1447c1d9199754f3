"""What a command prints: JSON on stdout, and the same JSON in a file when ``--out`` asks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["print_json"]


def print_json(result: Any, out: Path | None = None) -> int:
    """Print ``result`` as indented JSON (and write it to ``out``); the exit status, 0."""
    text = json.dumps(result, indent=2)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    print(text)
    return 0
