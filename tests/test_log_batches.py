"""Lines written in batches (``configure_logging(batch_secs=…)``, what ``frontdesk serve`` uses):
lines below warning wait for their batch; a warning or an error is written at once after every line
kept before it, frontdesk's and the libraries' alike, in the order logged; a full batch, a flush and
closing write what is kept; the batch's thread writes the rest by itself. ``frontdesk serve`` loses
no line when it stops."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from frontdesk.observability.line_batch import MAX_BATCH_CHARS
from frontdesk.observability.logs import configure_logging, get_logger, remove_handler
from tests.conftest import free_port

LOGGER = "frontdesk.test.batches"
AUTH = {"Authorization": 'MOBILE-API-140-327-PLAIN appId="demo", clientId="batches-1"'}
NEVER_BY_ITSELF = 3600.0  # a batch interval no test waits for: only a flush, a warning or a full batch writes


@pytest.mark.usefixtures("restore_root_level")
def test_info_lines_wait_and_a_warning_writes_them_first_in_order() -> None:
    stream = io.StringIO()
    handler = configure_logging("json", "info", stream, batch_secs=NEVER_BY_ITSELF)
    library = logging.getLogger(f"{LOGGER}.stdlib")  # a logger of its own: no other test sets its level
    try:
        log = get_logger(LOGGER)
        log.info("first")
        library.info("a library's line")  # a standard-library record, as uvicorn's are
        log.info("second")
        assert stream.getvalue() == ""
        log.warning("trouble")
        lines = stream.getvalue().splitlines()
        assert ['"first"' in lines[0], "a library's line" in lines[1], '"second"' in lines[2],
                '"trouble"' in lines[3]] == [True] * 4
        assert len(lines) == 4
        log.info("after")
        assert len(stream.getvalue().splitlines()) == 4
        handler.flush()
        assert '"after"' in stream.getvalue().splitlines()[4]
    finally:
        remove_handler(handler)
        handler.close()


@pytest.mark.usefixtures("restore_root_level")
def test_a_full_batch_is_written_by_the_line_that_filled_it_and_closing_writes_the_rest() -> None:
    stream = io.StringIO()
    handler = configure_logging("text", "info", stream, batch_secs=NEVER_BY_ITSELF)
    log = get_logger(LOGGER)
    try:
        padding = "x" * 1000
        count = 0
        while stream.getvalue() == "":
            count += 1
            log.info("filler", n=count, padding=padding)
            assert count * len(padding) <= 2 * MAX_BATCH_CHARS
        assert len(stream.getvalue().splitlines()) == count
        log.info("kept")
    finally:
        remove_handler(handler)
        handler.close()
    assert "kept" in stream.getvalue().splitlines()[-1]


@pytest.mark.usefixtures("restore_root_level")
def test_the_batch_thread_writes_kept_lines_by_itself() -> None:
    stream = io.StringIO()
    handler = configure_logging("text", "info", stream, batch_secs=0.01)
    try:
        get_logger(LOGGER).info("on its own")
        deadline = time.monotonic() + 30
        while "on its own" not in stream.getvalue():
            assert time.monotonic() < deadline, "the batch was never written"
            time.sleep(0.01)
        get_logger(LOGGER).info("again")  # a second batch after the first was written
        while "again" not in stream.getvalue():
            assert time.monotonic() < deadline, "the second batch was never written"
            time.sleep(0.01)
    finally:
        remove_handler(handler)
        handler.close()


def test_unbatched_lines_are_written_at_once(restore_root_level: None) -> None:
    stream = io.StringIO()
    handler = configure_logging("text", "info", stream)
    try:
        get_logger(LOGGER).info("now")
        assert "now" in stream.getvalue()
    finally:
        remove_handler(handler)


def test_a_stopped_server_has_logged_every_request(tmp_path: Path) -> None:
    """``frontdesk serve`` batches its lines; the access lines of the last requests before SIGTERM
    are in its log once it exited, and so are its last words."""
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "frontdesk", "serve", "--port", str(port),  # noqa: S603
                                   "--data-dir", str(tmp_path / "data")], stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "FRONTDESK_LOG_FORMAT": "text"})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, log_path.read_text()
            time.sleep(0.1)
        for n in range(5):
            answer = httpx.get(f"{base}/clientweb/api/v2/availability", timeout=5,
                               params={"tenantUrl": "demo.local", "n": n}, headers=AUTH)
            assert answer.status_code == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    text = log_path.read_text()
    for n in range(5):
        assert f"/clientweb/api/v2/availability?tenantUrl=demo.local&n={n}" in text
    assert "stopped" in text.splitlines()[-1]
