"""Content-addressed image files are written whole, once, under names from their hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot.store import ImageFiles


def test_write_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path / "images")
    data = b"\x89PNG fake bytes"
    digest = files.write(data)
    assert digest == hashlib.sha256(data).hexdigest()
    path = files.path_for(digest)
    assert path == tmp_path / "images" / digest[:2] / f"{digest}.png"
    assert files.write(data) == digest
    assert files.read(digest) == data
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temp files left behind"


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = ImageFiles(tmp_path / "images")

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        files.write(b"data")
    assert not any(p.is_file() for p in (tmp_path / "images").rglob("*"))


def test_path_refuses_non_hash_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a SHA-256"):
        ImageFiles(tmp_path).path_for("../../etc/passwd")
