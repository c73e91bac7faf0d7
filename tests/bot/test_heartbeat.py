"""`python -m bot health`: the heartbeat file read into one line and an exit code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.heartbeat import HEARTBEAT_FILE, Heartbeat, heartbeat_problem, write_heartbeat


def beat(**changes: object) -> Heartbeat:
    values: dict[str, object] = {
        "at": datetime.now(UTC).isoformat(),
        "connected": True,
        "ready_workers": 1,
        "total_workers": 1,
    }
    values.update(changes)
    return Heartbeat(**values)  # type: ignore[arg-type]


def test_each_way_of_being_unwell_has_its_own_line(tmp_path: Path) -> None:
    write_heartbeat(tmp_path, beat())
    assert heartbeat_problem(tmp_path, 30) is None
    write_heartbeat(tmp_path, beat(connected=False))
    assert "not connected" in (heartbeat_problem(tmp_path, 30) or "")
    write_heartbeat(tmp_path, beat(ready_workers=0, total_workers=2, last_error="CUDA out of memory"))
    assert heartbeat_problem(tmp_path, 30) == "no generation worker is ready (0 of 2): CUDA out of memory"
    old = (datetime.now(UTC) - timedelta(seconds=91)).isoformat()
    write_heartbeat(tmp_path, beat(at=old))
    assert "91 s old" in (heartbeat_problem(tmp_path, 30) or "")
    assert heartbeat_problem(tmp_path, 60) is None  # three beats of a minute have not passed
    (tmp_path / HEARTBEAT_FILE).write_text("{half a file", encoding="utf-8")
    assert "cannot be read" in (heartbeat_problem(tmp_path, 30) or "")


def test_python_m_bot_health_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SALON_DATA_DIR", str(tmp_path))
    assert main(["health"]) == 1
    assert "no heartbeat" in capsys.readouterr().err
    write_heartbeat(tmp_path, beat())
    assert main(["health"]) == 0
    assert capsys.readouterr().out.strip() == "salon: healthy"
    assert not (tmp_path / "logs").exists()  # a health check every half minute sets up no logging
