"""The data home's write lock: exclusive across holders, re-entrant within one, bounded wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tradelake.errors import TransientError
from tradelake.write_lock import WriteLock, WriteLockTimeout


def test_a_second_holder_waits_says_who_holds_it_and_gives_up_after_the_timeout(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    first = WriteLock(tmp_path / "lock", timeout_s=0)
    second = WriteLock(tmp_path / "lock", timeout_s=0.2, notify=lines.append)
    with first.held(), first.held():  # re-entrant for its own holder
        started = time.monotonic()
        with (
            pytest.raises(WriteLockTimeout, match="still being written by pid") as caught,
            second.held(),
        ):
            pass
        assert time.monotonic() - started >= 0.2
    assert isinstance(caught.value, TransientError)
    assert len(lines) == 1 and lines[0].startswith("waiting for pid ")
    with second.held():  # free again once the first leaves
        pass


def test_a_waiting_holder_goes_on_when_the_lock_is_released(tmp_path: Path) -> None:
    first = WriteLock(tmp_path / "lock", timeout_s=0)
    second = WriteLock(tmp_path / "lock", timeout_s=10, notify=lambda _: None)
    order: list[str] = []
    entered = threading.Event()

    def hold() -> None:
        with first.held():
            entered.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait()
    with second.held():
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]
