"""The invite URL and the permissions Salon asks for (the e2e world grants exactly these and no more)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.__main__ import main
from bot.client import REQUIRED_PERMISSIONS, client_id_from_token, invite_url


def token_for(client_id: int) -> str:
    """Return a token shaped as Discord's: the bot's id in unpadded base64, a timestamp, an HMAC."""
    head = base64.b64encode(str(client_id).encode()).decode().rstrip("=")
    return f"{head}.GhT2xQ.abcdefghijklmnopqrstuvwxyz0123456789AB"


def test_the_client_id_is_read_from_a_token() -> None:
    assert client_id_from_token(token_for(1_234_567_890_123_456_789)) == 1_234_567_890_123_456_789
    assert client_id_from_token(token_for(80_351_110_224_678_912)) == 80_351_110_224_678_912
    assert client_id_from_token("not-base64!.x.y") is None
    assert client_id_from_token(base64.b64encode(b"salon").decode() + ".x.y") is None  # not digits


def test_the_invite_asks_for_both_scopes_and_exactly_the_needed_permissions() -> None:
    query = parse_qs(urlsplit(invite_url(42)).query)
    assert query["client_id"] == ["42"]
    assert query["scope"] == ["bot applications.commands"]
    assert query["permissions"] == [str(REQUIRED_PERMISSIONS.value)]
    granted = {name for name, value in REQUIRED_PERMISSIONS if value}
    assert granted == {
        "read_messages",  # discord.py's name for View Channel
        "send_messages",
        "send_messages_in_threads",
        "create_public_threads",
        "attach_files",
        "read_message_history",
        "pin_messages",
        "send_polls",
    }


def test_python_m_bot_invite(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", token_for(987_654_321_098_765_432))
    assert main(["invite"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == invite_url(987_654_321_098_765_432)
    assert f"permissions integer {REQUIRED_PERMISSIONS.value}" in err and "no privileged intents" in err
    assert main(["invite", "--client-id", "77"]) == 0
    assert "client_id=77" in capsys.readouterr().out


def test_invite_without_an_id_says_where_to_find_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "loopback-token")
    assert main(["invite"]) == 2
    assert "--client-id" in capsys.readouterr().err
