"""Command line: ``frontdesk serve``, ``frontdesk check-config`` and ``frontdesk hash-password``.
Parsing only; no logic.

``frontdesk serve`` takes its options from flags, then ``FRONTDESK_*`` environment variables, then
the configuration file (``frontdesk.settings``), and re-reads that file on SIGHUP (``frontdesk.reload``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import socket
import sys
from dataclasses import replace
from pathlib import Path

from frontdesk import __version__
from frontdesk.app import build_app
from frontdesk.domain.ids import hash_password
from frontdesk.observability.logs import LOG_BATCH_SECS, LOG_FORMATS, LOG_LEVELS, configure_logging, get_logger
from frontdesk.reload import reload_on_signal
from frontdesk.server import (
    DrainingServer,
    ListenError,
    bound_address,
    format_address,
    inherited_socket,
    listen,
    make_server,
    serve,
    serve_workers,
)
from frontdesk.settings import (
    DEMO_AGENT_PASSWORD,
    DEMO_AGENT_USERNAME,
    DEMO_APP_ID,
    DEMO_TENANT,
    ConfigError,
    Settings,
    describe,
    load_settings,
    read_environment,
)

MAX_WORKERS = 64


class ReloadingServer(DrainingServer):
    """The server of ``frontdesk serve``: SIGHUP re-reads the configuration file, in the background;
    the outcome is logged and the server keeps running either way."""

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        reloads: set[asyncio.Task[bool]] = set()

        def on_sighup() -> None:
            task = loop.create_task(reload_on_signal(self.frontdesk))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        try:
            await super().serve(sockets)
        finally:
            loop.remove_signal_handler(signal.SIGHUP)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk", description="Contact-center chat server")
    parser.add_argument("--version", action="version", version=f"frontdesk {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the server (the embedded demo without --config)")
    run.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    run.add_argument("--config", type=Path, default=None, help="TOML configuration file (or FRONTDESK_CONFIG)")
    run.add_argument("--data-dir", type=Path, default=None, help="where the database and files live (default ./data)")
    run.add_argument("--log-format", choices=LOG_FORMATS, default=None,
                     help="log lines as text (default) or json, one object per line (or FRONTDESK_LOG_FORMAT)")
    run.add_argument("--log-level", choices=LOG_LEVELS, default=None,
                     help="least severe level logged (default info; or FRONTDESK_LOG_LEVEL)")
    run.add_argument("--workers", type=int, default=1,
                     help="processes sharing the port (default 1; more need database_url and redis_url)")
    check = commands.add_parser("check-config", help="validate a configuration file without starting the server")
    check.add_argument("file", type=Path, help="TOML configuration file")
    commands.add_parser("hash-password", help="print a password_hash for the configuration file")
    return parser


def _invalid(exc: ConfigError) -> int:
    for error in exc.errors:
        print(f"frontdesk: invalid configuration: {error}", file=sys.stderr)
    return 2


def check_config(path: Path) -> int:
    """Validate ``path`` as ``serve --config`` would: exit 0 with a summary, 2 with every error."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        return _invalid(exc)
    print(f"{path}: valid")
    for line in describe(settings):
        print(f"  {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "hash-password":
        print(hash_password(getpass.getpass("Password: ")))
        return 0
    if args.command == "check-config":
        return check_config(args.file)
    try:
        return _serve(args, argv if argv is not None else sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C before the server runs (it handles SIGINT itself once it does)
        return 130


def _serve(args: argparse.Namespace, argv: list[str]) -> int:
    """``frontdesk serve``: settings, logging, the socket bound, then the banner with the real
    address, then the server until SIGINT or SIGTERM."""
    try:
        settings = load_settings(args.config, {"host": args.host, "port": args.port, "data_dir": args.data_dir,
                                               "log_format": args.log_format, "log_level": args.log_level},
                                 env=read_environment())
    except ConfigError as exc:
        return _invalid(exc)
    configure_logging(settings.log_format, settings.log_level, batch_secs=LOG_BATCH_SECS)
    log = get_logger("frontdesk.cli")
    if args.workers != 1:
        return _serve_workers(argv, settings, args.workers)
    sock = inherited_socket()  # a worker of serve --workers: its parent bound the port
    if sock is None:
        try:
            sock = listen(settings.host, settings.port)
        except ListenError as exc:
            print(f"frontdesk: {exc}", file=sys.stderr)
            return 1
    try:
        host, port = bound_address(sock)
        settings = replace(settings, port=port)
        frontdesk = build_app(settings)
        log.info("configuration applied", source=str(settings.config_file or "embedded demo"),
                 tenants=len(settings.contact_center.tenants))
        _banner(settings, host, port)
        log.info("listening", address=f"http://{format_address(host, port)}", version=__version__,
                 data_dir=str(settings.data_dir.resolve()), pid=os.getpid())
        server = ReloadingServer(make_server(frontdesk, host, port, _uvicorn_level(settings.log_level)).config,
                                 frontdesk)
        serve(frontdesk, sock, server)
    finally:
        sock.close()
    return 0


def _uvicorn_level(level: str) -> str:
    """uvicorn's own lines at info repeat our start-up and access lines: shown only at debug."""
    return "debug" if level == "debug" else "warning"


def _banner(settings: Settings, host: str, port: int) -> None:
    base = f"http://{format_address(host, port)}"
    print(f"frontdesk {__version__} on {base}  (data in {settings.data_dir.resolve()})", flush=True)
    print(f"  open in a browser: demo site {base}/   agent desktop {base}/agent   supervisor view {base}/supervisor",
          flush=True)
    if settings.is_demo:
        print(f"  demo tenant {DEMO_TENANT}, appId {DEMO_APP_ID}", flush=True)
        print(f"  demo agent: username {DEMO_AGENT_USERNAME}  password {DEMO_AGENT_PASSWORD}", flush=True)
    print(f"  customer API {base}/clientweb/api/v1/   agent API docs {base}/agent/api/v1/docs   "
          f"widget script {base}/widget.js", flush=True)
    print(f"  health {base}/healthz  readiness {base}/readyz  metrics {base}/metrics", flush=True)
    if settings.config_file is not None:
        print(f"  configuration {settings.config_file} (kill -HUP {os.getpid()} re-reads it)", flush=True)


def _serve_workers(argv: list[str], settings: Settings, workers: int) -> int:
    """``serve --workers N``: refused unless the processes can share a database and a bus."""
    if not 1 <= workers <= MAX_WORKERS:
        print(f"frontdesk: --workers must be between 1 and {MAX_WORKERS}", file=sys.stderr)
        return 2
    missing = [name for name, value in (("database_url", settings.database_url), ("redis_url", settings.redis_url))
               if not value]
    if missing:
        print(f"frontdesk: --workers {workers} needs {' and '.join(missing)} (FRONTDESK_DATABASE_URL, "
              "FRONTDESK_REDIS_URL or [server]): several processes share one PostgreSQL and one Redis",
              file=sys.stderr)
        return 2
    return serve_workers(_without_workers(argv), settings.host, settings.port, workers)


def _without_workers(argv: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
