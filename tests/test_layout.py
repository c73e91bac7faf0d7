"""The house plan, checked: the bot package is the domain, SQL lives in store modules, cogs are loadable.

These read the source (with `ast`), so a violation fails here with the file and line that broke the
rule, before anyone has to find it in a review.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from bot.client import INITIAL_COGS

ROOT = Path(__file__).resolve().parents[1]
# The application object, the entry point and the Discord endpoint override are the bot's Discord edge.
BOT_MODULES_ON_DISCORD = {"bot/client.py", "bot/__main__.py", "bot/discord_endpoint.py"}
# Where SQL may be written: the store's own modules and each feature's store module.
STORE_MODULE = re.compile(r"^bot/(store/.*|[a-z_]+/store\.py|[a-z_]+/[a-z_]+_store\.py)$")
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b", re.S
)
# Drawing with Pillow happens in bot/render; input images are decoded (and refused) where they arrive.
PILLOW_OUTSIDE_RENDER = {"bot/imagine/content_images.py"}


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def top_level_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Return (line, module) for each import that runs when the module loads (not under TYPE_CHECKING)."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                break
            if isinstance(inner, ast.Import):
                found += [(inner.lineno, alias.name) for alias in inner.names]
            elif isinstance(inner, ast.ImportFrom) and inner.module:
                found.append((inner.lineno, inner.module))
    return found


def all_imports(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
    return found


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_only_the_application_and_entry_modules_of_bot_import_discord() -> None:
    offenders = [
        f"{name(path)}:{line} imports {module}"
        for path in python_files("bot")
        if name(path) not in BOT_MODULES_ON_DISCORD
        for line, module in all_imports(parsed(path))
        if module == "discord" or module.startswith("discord.")
    ]
    assert offenders == []


def test_the_bot_never_loads_the_loopback_discord_as_it_starts() -> None:
    offenders = [
        f"{name(path)}:{line} imports {module}"
        for path in python_files("bot", "cogs", "gpu_worker")
        for line, module in top_level_imports(parsed(path))
        if module == "loopback" or module.startswith("loopback.")
    ]
    assert offenders == []


def test_no_sql_outside_the_store_modules() -> None:
    offenders = []
    for path in python_files("bot", "cogs", "gpu_worker"):
        if STORE_MODULE.match(name(path)):
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                offenders.append(f"{name(path)}:{node.lineno}: {node.value.strip()[:60]!r}")
    assert offenders == []


def test_the_sql_rule_sees_sql() -> None:
    assert SQL.search("SELECT id FROM jobs WHERE state = ?")
    assert SQL.search("INSERT OR IGNORE INTO votes (a) VALUES (?)")
    assert not SQL.search("Select the images you like from the grid")


def test_only_bot_render_draws_with_pillow() -> None:
    offenders = [
        f"{name(path)}:{line} imports {module}"
        for path in python_files("bot", "cogs")
        if not name(path).startswith("bot/render/") and name(path) not in PILLOW_OUTSIDE_RENDER
        for line, module in all_imports(parsed(path))
        if module == "PIL" or module.startswith("PIL.")
    ]
    assert offenders == []


def test_the_domain_never_imports_the_discord_glue() -> None:
    offenders = [
        f"{name(path)}:{line} imports {module}"
        for path in python_files("bot")
        if name(path) not in BOT_MODULES_ON_DISCORD
        for line, module in all_imports(parsed(path))
        if module == "cogs" or module.startswith("cogs.")
    ]
    assert offenders == []


@pytest.mark.parametrize("module_name", INITIAL_COGS)
def test_every_cog_module_has_an_async_setup(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert inspect.iscoroutinefunction(getattr(module, "setup", None)), f"{module_name} has no async setup(bot)"


def test_every_feature_package_of_cogs_is_loaded() -> None:
    features = {path.parent.name for path in (ROOT / "cogs").glob("*/commands.py")}
    assert {f"cogs.{feature}.commands" for feature in features} <= set(INITIAL_COGS)


def test_one_cog_owns_raw_reactions() -> None:
    listeners = [
        name(path)
        for path in python_files("cogs")
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("on_raw_reaction")
    ]
    assert set(listeners) == {"cogs/reactions/commands.py"}


def test_services_log_a_step_only_through_record() -> None:
    """A change and its event are written together by `bot.store.record`; no service appends events by hand."""
    offenders = [
        f"{name(path)}:{node.lineno}"
        for path in python_files("bot", "cogs")
        if not STORE_MODULE.match(name(path))
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Name | ast.Attribute)
        and (node.id if isinstance(node, ast.Name) else node.attr) == "append_event"
    ]
    assert offenders == []
