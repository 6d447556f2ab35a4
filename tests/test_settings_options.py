"""Server options from flags, environment variables and the file (flag > env > file > default),
`frontdesk check-config`, and the published JSON Schema of the configuration file."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tomllib
from pathlib import Path

import httpx
import jsonschema
import pytest

from frontdesk.settings import ConfigError, load_settings, read_environment
from frontdesk.settings.options import ServerOverrides, ServerTable, env_name
from frontdesk.settings.schema import schema_text
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "config.schema.json"
EXAMPLE = ROOT / "examples" / "support.toml"
FRONTDESK = [sys.executable, "-m", "frontdesk"]
FILE = "[server]\nhost = '127.0.0.2'\nport = 9001\npoll_hold_secs = 5\ndata_dir = 'from-file'\n" \
       "[[tenants]]\nname = 't.example'\n"


@pytest.fixture
def no_frontdesk_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("FRONTDESK_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path, no_frontdesk_env: pytest.MonkeyPatch) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text(FILE)
    no_frontdesk_env.setenv("FRONTDESK_PORT", "9002")
    no_frontdesk_env.setenv("FRONTDESK_COOKIE_SECURE", "false")
    no_frontdesk_env.setenv("FRONTDESK_DATA_DIR", "from-env")
    settings = load_settings(config, {"port": 9003}, env=read_environment())
    assert settings.port == 9003  # flag
    assert (settings.cookie_secure, settings.data_dir) == (False, Path("from-env"))  # environment
    assert (settings.host, settings.poll_hold_secs) == ("127.0.0.2", 5.0)  # file
    assert settings.sqlite_synchronous == "NORMAL"  # default
    plain = load_settings(config)
    assert (plain.port, plain.cookie_secure, plain.data_dir) == (9001, True, tmp_path / "from-file")


def test_the_configuration_file_can_come_from_the_environment(tmp_path: Path,
                                                              no_frontdesk_env: pytest.MonkeyPatch) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text(FILE)
    no_frontdesk_env.setenv("FRONTDESK_CONFIG", str(config))
    settings = load_settings(None, env=read_environment())
    assert (settings.config_file, settings.is_demo, settings.port) == (config, False, 9001)
    other = tmp_path / "other.toml"
    other.write_text(FILE.replace("9001", "9005"))
    assert load_settings(other, env=read_environment()).port == 9005  # --config wins
    no_frontdesk_env.setenv("FRONTDESK_CONFIG", "")  # empty: not given
    assert load_settings(None, env=read_environment()).is_demo


@pytest.mark.parametrize(("name", "value", "message"), [
    ("FRONTDESK_PORT", "eighty", "FRONTDESK_PORT: expected an integer, got 'eighty'"),
    ("FRONTDESK_PORT", "70000", "FRONTDESK_PORT: must be between 0 and 65535"),
    ("FRONTDESK_POLL_HOLD_SECS", "12", "FRONTDESK_POLL_HOLD_SECS: must be above 0 and at most 11.5"),
    ("FRONTDESK_COOKIE_SECURE", "perhaps", "FRONTDESK_COOKIE_SECURE: expected true or false, got 'perhaps'"),
    ("FRONTDESK_SQLITE_SYNCHRONOUS", "off", "FRONTDESK_SQLITE_SYNCHRONOUS: must be one of NORMAL, FULL"),
    ("FRONTDESK_DATABASE_URL", "mysql://u:secret@db/x", "FRONTDESK_DATABASE_URL: must be a postgresql:// URL, or "
                                                        "empty for the embedded SQLite database in data_dir"),
])
def test_a_bad_environment_variable_is_named(no_frontdesk_env: pytest.MonkeyPatch, name: str, value: str,
                                             message: str) -> None:
    no_frontdesk_env.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        read_environment()
    assert caught.value.errors == [message]


def test_a_bad_flag_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^--port: must be between 0 and 65535$"):
        load_settings(None, {"port": 99999})


def test_every_server_option_has_an_environment_variable() -> None:
    file_only = {"default_tenant"}  # names a tenant of the file: no meaning without it
    assert set(ServerTable.model_fields) - file_only <= set(ServerOverrides.model_fields)
    documented = (ROOT / "docs" / "configuration.md").read_text()
    for option in ServerOverrides.model_fields:
        assert f"`{env_name(option)}`" in documented, option


async def test_serve_takes_port_data_dir_and_config_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text("[server]\nport = 1\n[[tenants]]\nname = 'env.example'\n[[tenants.queues]]\nid = 'q'\n"
                      "[[tenants.entries]]\napp_id = 'web'\nqueue = 'q'\n")
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")},
           "FRONTDESK_CONFIG": str(config), "FRONTDESK_PORT": str(port), "FRONTDESK_DATA_DIR": str(tmp_path / "d")}
    process = await asyncio.create_subprocess_exec(*FRONTDESK, "serve", env=env, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/clientweb/api/v1/availability?tenantUrl=env.example"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    answer = await http.get(url, headers={"Authorization": 'MOBILE-API-140-327-PLAIN appId="web", '
                                                                           'clientId="c1"'})
                    break
                except httpx.TransportError:
                    assert process.returncode is None, "frontdesk exited"
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("frontdesk did not start")
        assert (answer.status_code, answer.json()["chat"]) == (200, "available")
        assert (tmp_path / "d" / "frontdesk.sqlite3").is_file()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=20)


async def _check_config(path: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(*FRONTDESK, "check-config", str(path),
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_check_config_summarises_a_valid_file() -> None:
    code, out, err = await _check_config(EXAMPLE)
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"{EXAMPLE}: valid", "  tenant support.example.com: 3 queues, 2 hours, 3 forms, "
                                                     "2 scenarios, 1 entry, 3 agents"]


async def test_check_config_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 70000\n[[tenants]]\nname = 't.example'\ncolour = 'red'\n")
    code, out, err = await _check_config(bad)
    assert (code, out) == (2, "")
    assert err.splitlines() == ["frontdesk: invalid configuration: server.port: must be between 0 and 65535",
                                "frontdesk: invalid configuration: tenants[0].colour: unknown setting"]
    code, _, err = await _check_config(tmp_path / "missing.toml")
    assert code == 2 and "missing.toml" in err


def test_the_published_schema_is_generated_from_the_models() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == schema_text(), \
        "docs/config.schema.json is stale: python -m frontdesk.settings.schema > docs/config.schema.json"


def test_the_worked_example_validates_against_the_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(example)] == []
    example["tenants"][0]["queues"][0]["colour"] = "red"
    example["server"]["port"] = 70000
    assert len(list(validator.iter_errors(example))) == 2


def test_the_reference_example_of_the_docs_loads(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    (tmp_path / "icons").mkdir()
    (tmp_path / "icons" / "chat.png").write_bytes(b"png")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "sam.jpg").write_bytes(b"jpg")
    (tmp_path / "widget.json").write_text("{}")
    config = tmp_path / "frontdesk.toml"
    config.write_text(block.group(1))
    tenant = load_settings(config).contact_center.tenants["support.example.com"]
    assert tenant.scenarios["main"].steps[0].args == {"say": "Hello {param.first_name}!"}
