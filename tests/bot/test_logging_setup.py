"""Logging goes to the console and a rotating file, and a secret never reaches either."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.logging_setup import configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def test_file_log_redacts_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", tmp_path / "logs", ["tok.en-123"])
    log = logging.getLogger("salon.test")
    log.info("connecting with %s", "tok.en-123")
    log.warning("url https://x/?t=tok.en-123&a=1")
    log.debug("below the level")
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = (tmp_path / "logs" / "salon.log").read_text()
    console = capsys.readouterr().err
    for text in (written, console):
        assert "tok.en-123" not in text
        assert "connecting with [redacted]" in text
        assert "t=[redacted]&a=1" in text
        assert "below the level" not in text
