"""``--role`` is decided by the queue's capabilities, not its name."""

from __future__ import annotations

import pytest

from tradelake.errors import ConfigError
from tradelake.stream.queue import QueueCapabilities
from tradelake.stream.roles import roles_to_run

IN_PROCESS = QueueCapabilities(durable=False, multi_process=False)
SHARED = QueueCapabilities(durable=True, multi_process=True)


def test_all_runs_every_role_consumers_first() -> None:
    assert roles_to_run("all", "memory", IN_PROCESS) == ("alerts", "cv", "gateway")
    assert roles_to_run("all", "kafka", SHARED) == ("alerts", "cv", "gateway")


@pytest.mark.parametrize("role", ["gateway", "cv", "alerts"])
def test_one_role_runs_alone_on_a_shared_queue(role: str) -> None:
    assert roles_to_run(role, "kafka", SHARED) == (role,)


@pytest.mark.parametrize("role", ["gateway", "cv", "alerts"])
def test_one_role_on_an_in_process_queue_says_what_to_do(role: str) -> None:
    # Named "kafka" but unable to span processes: the capability decides, not the name.
    with pytest.raises(ConfigError, match=r"--role all.*queue = 'kafka'") as caught:
        roles_to_run(role, "kafka", IN_PROCESS)
    assert "\n" not in str(caught.value)


def test_an_unknown_role_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="gateway, cv, alerts, all"):
        roles_to_run("web", "kafka", SHARED)
