"""Every sentence a member reads is in the catalogue (`bot/catalogue.py`, `bot/locale/salon.pot`).

The scan is deny-by-default: any string in `bot/` or `cogs/` that reads like words ("two words with
a space") must be marked with `_`, `ngettext` or `N_`, unless it sits where text is not a member's
to read: docstrings, log lines, programmer errors (`ValueError`, `RuntimeError`, ...), the store's
SQL, and Discord's command metadata (names, descriptions and choices, which Discord localises
through `app_commands.Translator`, not through this catalogue). A violation names its file and line.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages import pofile
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo

from bot import catalogue

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("bot", "cogs")
# Not member-facing: the command line (demo narration, settings errors, `check` and `health` for the admin), the store's
# migrations, the logging setup, and the A1111 `parameters` text in each PNG (read by tools, which
# expect it in English). SQL is recognised and skipped.
NOT_MEMBER_TEXT = re.compile(
    r"^bot/(demo\.py|settings\.py|setup_check\.py|heartbeat\.py|__main__\.py|logging_setup\.py|store/migrations/.*"
    r"|render/png_metadata\.py)$"
)
SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|WITH|PRAGMA|ALTER|DROP|REPLACE|BEGIN)\b|\b(FROM|WHERE|SET)\b.*\?"
    r"|\bIS (NOT )?NULL\b|\b[a-z_]+ (NOT )?IN \(|\b[a-z_]+ [<>=!]{1,2} \?"
)
# A string read by a program, not a member (a PNG's A1111 parameters, an SQLite error to match), or
# by the admin who wrote a config file, says so on its line; the comment is the reviewable exception.
EXEMPT_COMMENTS = ("# machine-read", "# admin-read")
# Member text: two words, or (in an f-string, or a label a member reads) one word of three letters,
# unless the whole string is an identifier, a path or a key ("image-{}.png", "seed:{}", "salon:u:{}").
WORDS = re.compile(r"[A-Za-z]{2,}[^\n]*\s[^\n]*[A-Za-z]{2,}")
A_WORD = re.compile(r"[A-Za-z]{3,}")
LOWER_WORD = re.compile(r"[A-Za-z][a-z]{2,}")  # a word, not an SQL keyword ("AND") or an acronym
IDENTIFIER_LIKE = re.compile(r"[\w.:/\-{}?=#@*]*")
LABEL_KEYWORDS = {"label", "placeholder"}
MARKERS = {"_", "ngettext", "N_"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}
PROGRAMMER_ERRORS = {
    "ValueError",
    "RuntimeError",
    "TypeError",
    "KeyError",
    "AssertionError",
    "NotImplementedError",
    "LookupError",
    "SpecDecodeError",
    "DemoFolderError",
    "InvalidJobTransition",
    "IntegrityError",
}
# Calls whose every argument is Discord command metadata or a machine-read string.
METADATA_CALLS = {"describe", "Choice", "command", "Group", "context_menu", "rename", "compile", "getLogger"}
METADATA_KEYWORDS = {"description", "name", "custom_id", "filename", "reason"}


def scanned_files() -> list[Path]:
    return sorted(
        path
        for folder in SCANNED
        for path in (ROOT / folder).rglob("*.py")
        if not NOT_MEMBER_TEXT.match(path.relative_to(ROOT).as_posix())
    )


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is_docstring(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    if not isinstance(parent, ast.Expr):
        return False
    holder = parents.get(parent)
    return isinstance(holder, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)


def _exempt(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether a string sits where it is not a member's text, or is already marked."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Call):
            name = _call_name(parent)
            if name in MARKERS or name in METADATA_CALLS:
                return True
            if name in LOG_METHODS and isinstance(parent.func, ast.Attribute):
                return True
            if name in PROGRAMMER_ERRORS:
                return True
        if isinstance(parent, ast.keyword) and parent.arg in METADATA_KEYWORDS:
            return True
        if isinstance(parent, ast.Assert):
            return True
        if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef) and child in parent.decorator_list:
            return True
        if isinstance(parent, ast.stmt):
            return False
        child, parent = parent, parents.get(parent)
    return False


def unmarked_text(path: Path) -> list[str]:
    """Return 'file:line: text' for each sentence in `path` that is not in the catalogue."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and not isinstance(parents.get(node), ast.JoinedStr)
        ):
            text = node.value
        else:
            continue
        if any(mark in lines[node.lineno - 1] or mark in lines[node.end_lineno - 1] for mark in EXEMPT_COMMENTS):
            continue
        parent = parents.get(node)
        is_label = isinstance(parent, ast.keyword) and parent.arg in LABEL_KEYWORDS
        reads_as_text = (
            WORDS.search(text)
            or (is_label and A_WORD.search(text))
            or (isinstance(node, ast.JoinedStr) and A_WORD.search(text) and not IDENTIFIER_LIKE.fullmatch(text))
            or (" " in text and LOWER_WORD.search(text))  # "✅ Done", "liked " + cells, "a star"
        )
        if reads_as_text and not SQL.search(text) and not _is_docstring(node, parents) and not _exempt(node, parents):
            found.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}: {text[:70]!r}")
    return found


@pytest.mark.parametrize("folder", sorted({p.relative_to(ROOT).parent.as_posix() for p in scanned_files()}))
def test_member_text_goes_through_the_catalogue(folder: str) -> None:
    found = [line for path in scanned_files() if path.parent == ROOT / folder for line in unmarked_text(path)]
    assert not found, "text a member reads without `_` (see bot/catalogue.py):\n" + "\n".join(found)


def test_the_committed_catalogue_lists_every_marked_text() -> None:
    extracted = {
        message
        for folder in SCANNED
        for _, _, message, _, _ in extract_from_dir(
            ROOT / folder,
            method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
            keywords={"_": None, "N_": None, "ngettext": (1, 2)},
        )
    }
    with (ROOT / "bot" / "locale" / "salon.pot").open("rb") as handle:
        committed = {message.id for message in pofile.read_po(handle) if message.id}
    missing = sorted(str(m) for m in extracted - committed)
    stale = sorted(str(m) for m in committed - extracted)
    assert not missing and not stale, f"run `make catalogue`: missing {missing[:5]}, stale {stale[:5]}"


def test_a_compiled_translation_is_what_members_read(tmp_path: Path) -> None:
    catalog = Catalog(locale="fr", domain=catalogue.DOMAIN)
    catalog.add("Choose an image from 1 to {count}.", "Choisissez une image de 1 à {count}.")
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "salon.mo").open("wb") as handle:
        write_mo(handle, catalog)
    assert catalogue.compiled_languages(tmp_path) == ["en", "fr"]  # what SALON_LANGUAGE may name
    try:
        assert catalogue.use_language("fr", tmp_path)
        assert catalogue._("Choose an image from 1 to {count}.").format(count=4) == "Choisissez une image de 1 à 4."
        assert catalogue._("Not translated yet.") == "Not translated yet."
        assert not catalogue.use_language("de", tmp_path)  # no catalogue: English, and the caller is told
        assert catalogue._("Choose an image from 1 to {count}.") == "Choose an image from 1 to {count}."
    finally:
        catalogue.use_language("en")


class _VisibleText(HTMLParser):
    """Collects what a reader sees of a template once its Jinja tags are gone: text and labelling attributes."""

    LABELS = ("alt", "title", "aria-label", "placeholder")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")
        self.seen.extend(value for name, value in attrs if name in self.LABELS and value)

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.seen.append(data)


JINJA_TAGS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


@pytest.mark.parametrize("template", sorted(ROOT.glob("bot/**/templates/*.html")), ids=lambda p: p.name)
def test_template_words_go_through_the_catalogue(template: Path) -> None:
    # Deny by default: with every {{ ... }} and {% ... %} removed, a reader must see no word left.
    parser = _VisibleText()
    parser.feed(JINJA_TAGS.sub("", template.read_text(encoding="utf-8")))
    words = [text.strip() for text in parser.seen if re.search(r"[^\W\d_]{2,}", text)]
    assert words == [], f"{template.name}: wrap in {{{{ _(...) }}}}: {words}"
