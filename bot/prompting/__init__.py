"""Prompt craft: inline flags (`flags`), variants and wildcards (`wildcards`), style presets (`styles`).

Emphasis and long prompts (compel) are the worker's part: `gpu_worker.prompt_encoding`.
"""

from __future__ import annotations

from pathlib import Path

# The shipped presets live in data/ at the repository root, beside bot/ (as bot.themes finds them).
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
