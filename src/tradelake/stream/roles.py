"""Which stream roles one ``tradelake serve`` process runs (``--role gateway|cv|alerts|all``).

By default one process runs every role and they share an in-process queue. With a queue that
spans processes (``capabilities.multi_process``: Kafka) each role may run as its own process,
so a crashed CV service restarts alone while the gateway keeps landing frames. Asking for one
role on a queue that lives inside one process is refused: the other roles would never see
its messages.
"""

from __future__ import annotations

from tradelake.errors import ConfigError
from tradelake.stream.queue import QueueCapabilities

GATEWAY = "gateway"
CV = "cv"
ALERTS = "alerts"
ALL = "all"
ROLES: tuple[str, ...] = (GATEWAY, CV, ALERTS)


def roles_to_run(role: str, queue_name: str, capabilities: QueueCapabilities) -> tuple[str, ...]:
    """The roles this process runs, in start order (consumers before the gateway feeds them)."""
    if role == ALL:
        return (ALERTS, CV, GATEWAY)
    if role not in ROLES:
        raise ConfigError(f"--role {role!r} is not one of: {', '.join((*ROLES, ALL))}")
    if not capabilities.multi_process:
        raise ConfigError(
            f"--role {role} needs a queue shared between processes, and the {queue_name!r} "
            "queue lives inside one process: run --role all, or set [stream] queue = 'kafka' "
            "with bootstrap_servers"
        )
    return (role,)
