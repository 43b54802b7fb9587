"""Run the app with uvicorn: in the foreground (``tradelake serve``) or on a thread (tests,
benchmarks) with an ephemeral port. The access log stays off: a browser's ``?token=`` must not
reach a log."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import uvicorn

from tradelake.errors import StreamError
from tradelake.stream.runtime import StreamRuntime
from tradelake.web.app import create_app

if TYPE_CHECKING:
    from tradelake.platform import Platform


def _server(
    runtime: StreamRuntime, host: str, port: int, platform: Platform | None = None
) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(runtime, platform),
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=3,  # an idle SSE client must not hold up a shutdown
        # Room above the frame limit, so an oversize frame is answered with an error and the
        # connection stays up; past twice the limit the server closes it (1009, too big).
        ws_max_size=2 * runtime.settings.max_frame_bytes + 1024,
    )
    return uvicorn.Server(config)


def serve_forever(
    runtime: StreamRuntime, host: str, port: int, platform: Platform | None = None
) -> None:
    """Start the roles, serve until SIGINT/SIGTERM, then stop the roles and exit cleanly.

    uvicorn handles the signals while it runs, then raises the captured one again once it has
    stopped; the handlers installed here take that second delivery, so the roles still stop
    (persisting what was scored) and the command exits 0 instead of dying on the signal.
    """
    _check_free(host, port)
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    runtime.start()
    try:
        _server(runtime, host, port, platform).run()
    finally:
        runtime.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_free(host: str, port: int) -> None:
    """Fail in one line before loading the model when the address is taken."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise StreamError(
            f"cannot listen on {host}:{port} ({reason}); stop the other server or pass "
            "--port / --host"
        ) from None


def _stopped(signum: int, frame: object) -> None:
    """The signal uvicorn raises again after its graceful shutdown: nothing left to do."""


@contextmanager
def serving_in_thread(
    runtime: StreamRuntime,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    platform: Platform | None = None,
) -> Iterator[int]:
    """Start the roles and the server on a thread; yields the bound port; stops both."""
    runtime.start()
    server = _server(runtime, host, port, platform)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise StreamError(f"the stream server did not start on {host}:{port}")
            time.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.stop()
