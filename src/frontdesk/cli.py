"""Command line: ``frontdesk serve``, ``frontdesk check-config`` and ``frontdesk hash-password``.
Parsing only; no logic.

``frontdesk serve`` takes its options from flags, then ``FRONTDESK_*`` environment variables, then
the configuration file (``frontdesk.settings``), and re-reads that file on SIGHUP (``frontdesk.reload``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from frontdesk import __version__
from frontdesk.app import Frontdesk, build_app
from frontdesk.domain.ids import hash_password
from frontdesk.reload import reload_on_signal
from frontdesk.server import DrainingServer, inherited_socket, make_server, serve_workers, tune_gc
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


def serve_with_reload(frontdesk: Frontdesk, host: str, port: int, sock: socket.socket | None = None) -> None:
    """Serve until stopped; ``sock``: an already listening socket (a worker's, inherited)."""
    tune_gc()
    ReloadingServer(make_server(frontdesk, host, port).config, frontdesk).run(sockets=[sock] if sock else None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk", description="Contact-center chat server")
    parser.add_argument("--version", action="version", version=f"frontdesk {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the server (the embedded demo without --config)")
    run.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    run.add_argument("--config", type=Path, default=None, help="TOML configuration file (or FRONTDESK_CONFIG)")
    run.add_argument("--data-dir", type=Path, default=None, help="where the database and files live (default ./data)")
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config, {"host": args.host, "port": args.port, "data_dir": args.data_dir},
                                 env=read_environment())
    except ConfigError as exc:
        return _invalid(exc)
    if args.workers != 1:
        return _serve_workers(argv if argv is not None else sys.argv[1:], settings, args.workers)
    frontdesk = build_app(settings)
    base = f"http://{settings.host}:{settings.port}"
    print(f"frontdesk {__version__} on {base}  (data in {settings.data_dir.resolve()})", flush=True)
    if settings.is_demo:
        print(f"  demo tenant {DEMO_TENANT}, appId {DEMO_APP_ID}", flush=True)
        print(f"  demo agent: username {DEMO_AGENT_USERNAME}  password {DEMO_AGENT_PASSWORD}", flush=True)
    print(f"  customer API {base}/clientweb/api/v1/   agent API docs {base}/agent/api/v1/docs", flush=True)
    print(f"  demo site {base}/   agent desktop {base}/agent   "
          f"supervisor view {base}/supervisor   widget script {base}/widget.js", flush=True)
    if settings.config_file is not None:
        print(f"  configuration {settings.config_file} (kill -HUP {os.getpid()} re-reads it)", flush=True)
    serve_with_reload(frontdesk, settings.host, settings.port, inherited_socket())
    return 0


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
