"""FrameSender against a loopback WebSocket server that drops the first connection mid-frame:
the sender reconnects with backoff and resends that frame under the same id."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from tradelake.errors import StreamError
from tradelake.stream.producer import Frame, FrameSender, frames_from_files, frames_url


class FlakyGateway:
    """Answers like the gateway, but closes the first connection after reading one frame."""

    def __init__(self) -> None:
        self.received: list[tuple[int, str, bytes]] = []  # (connection number, frame id, data)
        self.tokens: list[str | None] = []
        self._connections = 0
        self._lock = threading.Lock()
        self.server: Server = serve(self._handle, "127.0.0.1", 0)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/ws/frames/desk1"

    def _handle(self, ws: ServerConnection) -> None:
        with self._lock:
            self._connections += 1
            number = self._connections
        self.tokens.append(ws.request.headers.get("Authorization") if ws.request else None)
        seen: set[str] = {f for _, f, _ in self.received}
        for message in ws:
            header = json.loads(message)
            data = ws.recv()
            assert isinstance(data, bytes)
            self.received.append((number, header["frame_id"], data))
            if number == 1 and len(self.received) == 2:
                ws.close()  # dropped before answering the second frame
                return
            status = "duplicate" if header["frame_id"] in seen else "accepted"
            seen.add(header["frame_id"])
            ws.send(json.dumps({"frame_id": header["frame_id"], "status": status}))


@pytest.fixture
def gateway() -> Iterator[FlakyGateway]:
    g = FlakyGateway()
    yield g
    g.server.shutdown()


def _frames(n: int) -> list[Frame]:
    return [Frame(f"f{i}", datetime.now(UTC), b"\x89PNG\r\n\x1a\n" + bytes([i])) for i in range(n)]


def test_unanswered_frame_is_resent_under_its_own_id(gateway: FlakyGateway) -> None:
    report = FrameSender(gateway.url, "tok", backoff_s=0.01).send_all(_frames(4))
    assert [(c, f) for c, f, _ in gateway.received] == [
        (1, "f0"),
        (1, "f1"),  # connection dropped: no answer
        (2, "f1"),  # the same frame, same id, on the new connection
        (2, "f2"),
        (2, "f3"),
    ]
    assert gateway.received[1][2] == gateway.received[2][2]
    # The gateway had landed f1 before the drop, so the resend is answered duplicate.
    assert (report.sent, report.accepted, report.duplicate, report.reconnects) == (4, 3, 1, 1)
    assert gateway.tokens == ["Bearer tok", "Bearer tok"]


def test_gives_up_with_one_clear_line_when_nothing_listens() -> None:
    sender = FrameSender("ws://127.0.0.1:9/ws/frames/x", "t", backoff_s=0.001, max_attempts=3)
    with pytest.raises(StreamError, match="after 3 attempts; check that `tradelake serve`"):
        sender.send_all(_frames(1))


def test_files_become_paced_frames_with_content_ids(tmp_path: Path) -> None:
    for name, data in (("a.png", b"A"), ("b.jpg", b"B"), ("c.png", b"A")):
        (tmp_path / name).write_bytes(data)
    stamps = iter(datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(3))
    frames = list(frames_from_files(sorted(tmp_path.iterdir()), clock=lambda: next(stamps)))
    assert [f.content_type for f in frames] == ["image/png", "image/jpeg", "image/png"]
    assert frames[0].frame_id == frames[2].frame_id != frames[1].frame_id  # same bytes, same id
    assert [f.ts.second for f in frames] == [0, 1, 2]
    assert frames_url("http://h:1/", "d") == "ws://h:1/ws/frames/d"
