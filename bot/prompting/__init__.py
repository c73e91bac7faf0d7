"""Prompt craft: inline flags (`flags`), variants and wildcards (`wildcards`), style presets (`styles`).

Emphasis and long prompts (compel) are the worker's part: `gpu_worker.prompt_encoding`.
The shipped style presets and wildcard lists are package data in `bot/prompting/presets/`.
"""
