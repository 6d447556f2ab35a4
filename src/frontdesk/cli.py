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
from frontdesk.server import DrainingServer, make_server, tune_gc
from frontdesk.settings import (
    DEMO_AGENT_PASSWORD,
    DEMO_AGENT_USERNAME,
    DEMO_APP_ID,
    DEMO_TENANT,
    ConfigError,
    describe,
    load_settings,
    read_environment,
)


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


def serve_with_reload(frontdesk: Frontdesk, host: str, port: int) -> None:
    tune_gc()
    ReloadingServer(make_server(frontdesk, host, port).config, frontdesk).run()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk", description="Contact-center chat server")
    parser.add_argument("--version", action="version", version=f"frontdesk {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the server (the embedded demo without --config)")
    run.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    run.add_argument("--config", type=Path, default=None, help="TOML configuration file (or FRONTDESK_CONFIG)")
    run.add_argument("--data-dir", type=Path, default=None, help="where the database and files live (default ./data)")
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
    frontdesk = build_app(settings)
    base = f"http://{settings.host}:{settings.port}"
    print(f"frontdesk {__version__} on {base}  (data in {settings.data_dir.resolve()})", flush=True)
    if settings.is_demo:
        print(f"  demo tenant {DEMO_TENANT}, appId {DEMO_APP_ID}", flush=True)
        print(f"  demo agent: username {DEMO_AGENT_USERNAME}  password {DEMO_AGENT_PASSWORD}", flush=True)
    print(f"  customer API {base}/clientweb/api/v1/   agent API docs {base}/agent/api/v1/docs", flush=True)
    if settings.config_file is not None:
        print(f"  configuration {settings.config_file} (kill -HUP {os.getpid()} re-reads it)", flush=True)
    serve_with_reload(frontdesk, settings.host, settings.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
