"""Claude Desktop's configuration is read from where Claude keeps it, and `env` never leaves it."""

from __future__ import annotations

import json

import pytest

from aim_agent import claude

CONFIG = {
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"],
            "env": {"GITHUB_TOKEN": "ghp_secret"},
        },
        "remote": {"url": "https://mcp.example.com/mcp"},
        "broken": {"args": ["no command or url"]},
        "not-an-object": "npx server",
    }
}


def write(directory, config=CONFIG):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / claude.CONFIG_NAME).write_text(json.dumps(config))


@pytest.mark.parametrize(
    "place",
    [["Library", "Application Support", "Claude"], [".config", "Claude"], ["AppData", "Roaming", "Claude"]],
)
def test_each_platforms_place_is_read(tmp_path, monkeypatch, place):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("APPDATA", str(tmp_path / "AppData" / "Roaming"))
    directory = tmp_path.joinpath(*place)
    write(directory)
    assert claude.config_paths() == [directory / claude.CONFIG_NAME]


def test_nothing_is_found_where_nothing_is_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("APPDATA", raising=False)
    assert claude.config_paths() == []


def test_an_explicit_path_is_the_only_one_read_and_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / ".config" / "Claude")
    write(tmp_path / "elsewhere")
    assert claude.config_paths(tmp_path / "elsewhere") == [tmp_path / "elsewhere" / claude.CONFIG_NAME]
    with pytest.raises(FileNotFoundError):
        claude.config_paths(tmp_path / "missing.json")


def test_servers_are_reported_without_their_env(tmp_path):
    write(tmp_path)
    servers = claude.read_configs([tmp_path / claude.CONFIG_NAME])
    assert [s.name for s in servers] == ["filesystem", "remote"]
    assert servers[0].env == {"GITHUB_TOKEN": "ghp_secret"}  # kept to start the server here
    reported = [s.reported() for s in servers]
    assert reported == [
        {"name": "filesystem", "command": "npx", "args": CONFIG["mcpServers"]["filesystem"]["args"]},
        {"name": "remote", "url": "https://mcp.example.com/mcp"},
    ]
    assert "ghp_secret" not in json.dumps(reported) and "ghp_secret" not in repr(servers)
