"""Content-addressed image files under the data folder, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

# PNG for images, masks and heatmaps; GIF for denoising journeys.
SUFFIXES = (".png", ".gif")


class ImageFiles:
    """Return paths of, and write, image files (PNG, or GIF for journeys) named by the SHA-256 of their bytes.

    A file is written to a temporary name in its final folder, flushed to disk and renamed into
    place, so a crash leaves either the whole file or none, never a torn one. Identical bytes
    share one file. Names come only from the hash, never from user text.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str, suffix: str = ".png") -> Path:
        """Return where the file with this hash lives (images/ab/abcdef....png)."""
        if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        if suffix not in SUFFIXES:
            raise ValueError(f"image files are {', '.join(SUFFIXES)}, not {suffix!r}")
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def write(self, data: bytes, suffix: str = ".png") -> str:
        """Write `data` if no file has these bytes yet, and return its SHA-256."""
        sha256 = hashlib.sha256(data).hexdigest()
        final = self.path_for(sha256, suffix)
        if final.exists():
            return sha256
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".tmp-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return sha256

    def read(self, sha256: str, suffix: str = ".png") -> bytes:
        """Return the bytes of the file with this hash."""
        return self.path_for(sha256, suffix).read_bytes()
