"""``tradelake serve --role``: what is refused, and how, as a user sees it (one line, exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.helpers import run_cli
from fixtures.tansu import free_port


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_one_role_on_the_in_process_queue_says_to_run_all_or_use_kafka(home: Path) -> None:
    result = run_cli("serve", "--role", "cv", "--home", str(home))
    assert result.returncode == 1
    line = _one_line_error(result.stderr)
    assert "--role all" in line and "kafka" in line


@pytest.mark.kafka
def test_an_unreachable_broker_is_one_line_naming_the_address(home: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = {
        "TRADELAKE_STREAM__QUEUE": "kafka",
        "TRADELAKE_STREAM__BOOTSTRAP_SERVERS": address,
        "TRADELAKE_STREAM__ACK_TIMEOUT_S": "1",
    }
    result = run_cli("serve", "--role", "cv", "--home", str(home), env=env)
    assert result.returncode == 1
    line = _one_line_error(result.stderr)
    assert address in line and "bootstrap_servers" in line
