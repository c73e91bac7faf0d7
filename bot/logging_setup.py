"""Logging: to the console and to a rotating file in the data folder, secrets redacted."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replace known secret strings in every record, so a token can never reach a log line.

    The code never logs secrets on purpose; this guards against a library echoing one back
    (for example inside a URL or an exception message).
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "[redacted]")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str, logs_dir: Path | None, secrets: list[str]) -> None:
    """Send logs at `level` to stderr and, if `logs_dir` is given, to `logs_dir/salon.log`."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    redact = RedactSecrets(secrets)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                logs_dir / "salon.log", maxBytes=5_000_000, backupCount=5, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(redact)
        root.addHandler(handler)
    # discord.py's HTTP layer is chatty at DEBUG; keep it at INFO unless asked for globally.
    logging.getLogger("discord.http").setLevel(max(logging.getLevelName(level), logging.INFO))
