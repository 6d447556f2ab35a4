"""The deployment files say what docs/operations.md says: the systemd unit runs ``frontdesk serve``
unprivileged with an environment file, restarts and reloads; the Procfile binds ``$PORT``; nginx
keeps long polls and WebSockets open long enough and passes the forwarded headers."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from frontdesk.settings import MAX_POLL_HOLD_SECS

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read_string((DEPLOY / "frontdesk.service").read_text(encoding="utf-8"))
    return unit


def test_the_systemd_unit_runs_serve_unprivileged_with_an_environment_file() -> None:
    service = _unit()["Service"]
    assert service["ExecStart"].endswith("/bin/frontdesk serve")
    assert service["User"] == "frontdesk" and service["User"] != "root"
    assert service["EnvironmentFile"].lstrip("-").startswith("/etc/frontdesk/")
    assert service["Restart"] == "on-failure"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # re-reads the configuration file
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["LimitNOFILE"]) >= 16_000 + 128  # the default max_connections and its reserve
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"


def test_the_procfile_binds_the_platform_port() -> None:
    (web,) = [line for line in (DEPLOY / "Procfile").read_text().splitlines() if line.startswith("web:")]
    assert "frontdesk serve" in web and "--host 0.0.0.0" in web and "$PORT" in web.replace("${PORT", "$PORT")


def _location(config: str, pattern: str) -> str:
    start = config.index(f"location {pattern}")
    return config[start:config.index("}", start)]


def test_nginx_keeps_polls_and_websockets_open_and_forwards_the_client() -> None:
    config = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert "listen 443 ssl;" in config and "return 301 https://" in config
    for header in ("X-Forwarded-Proto $scheme", "X-Forwarded-For $proxy_add_x_forwarded_for", "Host $host"):
        assert f"proxy_set_header {header};" in config, header
    polls = _location(config, "~ ^/clientweb/")
    read_timeout = int(re.search(r"proxy_read_timeout (\d+)s;", polls).group(1))  # type: ignore[union-attr]
    assert read_timeout > MAX_POLL_HOLD_SECS and "proxy_buffering off;" in polls
    sockets = _location(config, "~ ^/agent/api/v1/(supervisor/)?ws$")
    assert "proxy_set_header Upgrade $http_upgrade;" in sockets
    assert int(re.search(r"proxy_read_timeout (\d+)s;", sockets).group(1)) >= 600  # type: ignore[union-attr]
    probes = _location(config, "~ ^/(healthz|readyz|metrics)$")
    assert "deny all;" in probes
