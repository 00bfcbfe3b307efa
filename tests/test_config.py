"""Settings are validated before anything starts, and the README documents exactly these."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import sys
from pathlib import Path

import pytest

from aim_identity import config

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent


@pytest.fixture
def environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("AIM_") and not name.startswith(("AIM_TEST_", "AIM_BENCH_")):
            monkeypatch.delenv(name)
    return monkeypatch


def problems(environment, **variables) -> str:
    for name, value in variables.items():
        environment.setenv(name, value)
    with pytest.raises(config.SettingsError) as raised:
        config.load()
    return str(raised.value)


def test_the_defaults_are_the_embedded_development_setup(environment):
    settings = config.load()
    assert (settings.env, settings.database_url, settings.redis_url) == (
        "development",
        "sqlite://./aim.db",
        "memory://",
    )
    assert not settings.production and settings.secret_key is None


def test_an_unknown_environment_stops_start_up_and_names_the_variable(environment):
    # A typo for "production" must not quietly run development mode.
    assert (
        problems(environment, AIM_ENV="prod") == "AIM_ENV: Input should be 'development' or 'production' (got 'prod')"
    )


def test_a_bad_number_names_its_variable(environment):
    assert problems(environment, AIM_PORT="eighty").startswith("AIM_PORT: Input should be a valid integer")
    environment.delenv("AIM_PORT")
    assert (
        problems(environment, AIM_ACCESS_TOKEN_TTL="0")
        == "AIM_ACCESS_TOKEN_TTL: Input should be greater than 0 (got '0')"
    )


def test_production_needs_a_strong_secret(environment):
    assert problems(environment, AIM_ENV="production") == "AIM_SECRET_KEY is required when AIM_ENV=production"
    for weak in ("short-but-varied-0123456789", "s" * 64, "abababababababababababababababababababababab"):
        assert problems(environment, AIM_SECRET_KEY=weak).startswith(
            "AIM_SECRET_KEY must hold at least 32 random bytes"
        )
        assert weak not in problems(environment, AIM_SECRET_KEY=weak)  # never echoed
    environment.setenv("AIM_SECRET_KEY", secrets.token_urlsafe(32))
    environment.setenv("AIM_REGISTRATION", "closed")
    assert config.load().production


def test_production_signs_up_by_verified_mail_unless_told_otherwise(environment):
    environment.setenv("AIM_ENV", "production")
    environment.setenv("AIM_SECRET_KEY", secrets.token_urlsafe(32))
    # Verified sign-up cannot send its codes without a mail server, and says what to do instead.
    assert problems(environment).startswith("AIM_REGISTRATION=verified needs AIM_SMTP_URL")
    environment.setenv("AIM_SMTP_URL", "smtp://mail.example:587?starttls=1")
    assert config.load().registration == "verified"
    environment.setenv("AIM_REGISTRATION", "closed")
    assert config.load().registration == "closed"
    environment.setenv("AIM_ENV", "development")
    environment.delenv("AIM_REGISTRATION")
    assert config.load().registration == "open"


def test_rates_are_checked_at_start_up(environment):
    assert problems(environment, AIM_LOGIN_RATE="lots").startswith("AIM_LOGIN_RATE: use the `limits` notation")


def test_every_problem_is_named_at_once_and_no_secret_is_echoed(environment):
    text = problems(environment, AIM_PORT="x", AIM_MAX_ALIASES="-1", AIM_SECRET_KEY="", AIM_ENV="staging")
    assert {line.split(":")[0] for line in text.splitlines()} == {"AIM_PORT", "AIM_MAX_ALIASES", "AIM_ENV"}


def test_lists_are_comma_separated(environment):
    environment.setenv("AIM_ALLOWED_ORIGINS", "https://a.example, https://b.example,")
    assert config.load().allowed_origins == ("https://a.example", "https://b.example")


def test_the_readme_documents_every_setting_as_the_settings_class_describes_it():
    text = README.read_text()
    table = re.search(r"<!-- settings -->\n(.*?)\n<!-- /settings -->", text, re.S)
    assert table, "the README's table of variables sits between <!-- settings --> and <!-- /settings -->"
    assert table.group(1) == config.markdown_table(), "regenerate it with `aimctl settings --markdown`"
    assert len(config.Settings.model_fields) == table.group(1).count("\n| `AIM_")


async def test_aimctl_refuses_to_start_on_bad_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIM_")} | {"AIM_ENV": "prod"}
    process = await asyncio.create_subprocess_exec(
        str(BIN / "aimctl"), "serve", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode != 0
    assert "AIM_ENV: Input should be 'development' or 'production' (got 'prod')" in err.decode()


def test_an_unknown_variable_is_named_and_the_agent_sdks_are_not(environment, caplog):
    environment.setenv("AIM_DATABSE_URL", "sqlite://typo.db")
    environment.setenv("AIM_SDK_API_KEY", "aim_live_for-the-agent-beside-the-server")
    with caplog.at_level(logging.WARNING, logger="aim_identity.config"):
        config.load()
    assert "ignoring unknown settings: AIM_DATABSE_URL" in caplog.text
    assert "AIM_SDK_" not in caplog.text
