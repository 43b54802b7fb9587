"""``tradelake serve | screen send | alerts``: the real-time path on the command line.

``serve`` runs the gateway, the CV service and the alert engine in one process (the embedded
default: in-process queue, no server to install), or one role per process with Kafka
(``--role``). ``screen send`` replays image files to a running ``serve`` as a device's screen;
``screen capture`` sends the live screen. ``alerts`` lists stored alerts; ``alerts show ID``
prints one alert's lineage down to the landed image and its sha256.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradelake.cli.common import (
    EXIT_PARTIAL,
    HELP_MARKUP,
    HomeOpt,
    JsonOpt,
    command,
    open_platform,
)
from tradelake.console import Console, rows_table
from tradelake.errors import ConfigError

if TYPE_CHECKING:
    from tradelake.stream.producer import FrameSender

screen_app = typer.Typer(
    help="Send chart screens to a running `tradelake serve`.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)
alerts_app = typer.Typer(
    help="Alerts raised by the stream: list them, or show one's lineage.",
    invoke_without_command=True,
    rich_markup_mode=HELP_MARKUP,
)


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``screen`` and ``alerts`` to the ``tradelake`` app."""
    app.command("serve")(serve)
    app.add_typer(screen_app, name="screen")
    app.add_typer(alerts_app, name="alerts")


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind ([stream] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port ([stream] port, 8700).")] = None,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="gateway, cv, alerts or all (default). One role per process needs a queue "
            "shared between processes ([stream] queue = 'kafka').",
        ),
    ] = "all",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="--role cv only: port of its /metrics ([metrics] port; 0 = off)."),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Run the real-time path: frames in over WebSocket, scored, alerts pushed out.

    Binds 127.0.0.1 unless --host says otherwise. Producers need the producer token
    ($TRADELAKE_PRODUCER_TOKEN), dashboards the viewer token ($TRADELAKE_VIEWER_TOKEN).
    With Kafka, run one process per role: the gateway serves the frames socket, the alerts
    role the alert feeds (give each its own --port), and cv serves nothing.
    Stops on Ctrl-C or SIGTERM, finishing the batch in hand.
    """
    with command(False) as console:
        platform = open_platform(home)
        settings = platform.stream_settings
        bind_host, bind_port = host or settings.host, port if port is not None else settings.port
        roles = _roles(role)
        if roles == ("cv",):
            from tradelake.ops.metrics_endpoint import exposing_metrics
            from tradelake.stream.runtime import run_until_signalled

            runtime = platform.stream_runtime(roles)
            with exposing_metrics(platform.settings.raw, metrics_port) as where:
                console.info(
                    f"tradelake serve --role cv (queue {settings.queue}{where}); Ctrl-C stops it"
                )
                run_until_signalled(runtime)
            return
        _warn_missing_tokens(console, settings.producer_token, settings.viewer_token)
        try:
            from tradelake.web.server import serve_forever
        except ImportError as exc:
            raise ConfigError(
                f"serving needs the stream extra ({exc.name} is missing); "
                "pip install 'tradelake[stream]'"
            ) from exc
        runtime = platform.stream_runtime(roles)
        console.info(
            f"tradelake serve --role {role} on http://{bind_host}:{bind_port} "
            f"(queue {settings.queue}; frames: ws://{bind_host}:{bind_port}/ws/frames/DEVICE; "
            f"alerts: /ws/alerts, /api/alerts/stream; trade scores: POST /api/score; "
            f"desk: http://{bind_host}:{bind_port}/)"
        )
        serve_forever(runtime, bind_host, bind_port, platform)


def _roles(role: str) -> tuple[str, ...]:
    """``--role`` → the runtime's roles (the runtime refuses a split it cannot serve)."""
    from tradelake.stream.runtime import ROLES

    if role == "all":
        return ROLES
    if role not in ROLES:
        raise ConfigError(f"--role {role!r} is not one of: {', '.join(ROLES)}, all")
    return (role,)


UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="Server, e.g. ws://127.0.0.1:8700 ([stream] host/port)."),
]
ProducerTokenOpt = Annotated[
    str | None,
    typer.Option("--token", help="Producer token (default: the [stream] producer token secret)."),
]


def _frame_sender(
    home: Path | None, device: str, url: str | None, token: str | None
) -> FrameSender:
    """The sender both producer commands use: ``--url``/``--token``, else ``[stream]``."""
    from tradelake.stream.producer import FrameSender, frames_url

    settings = open_platform(home).stream_settings
    secret = token or settings.producer_token
    if not secret:
        raise ConfigError(
            "no producer token: pass --token, or set $TRADELAKE_PRODUCER_TOKEN (or "
            "[stream] producer_token_env / producer_token_file)"
        )
    base = url or f"ws://{settings.host}:{settings.port}"
    return FrameSender(frames_url(base, device), secret)


def _exit_on_refusals(console: Console, errors: list[dict[str, Any]], *, printed: bool) -> None:
    """Exit 2 when the server refused frames; each refusal is a line unless --json said it."""
    if not printed:
        for error in errors:
            console.error(f"frame {error.get('frame_id')}: {error.get('error')}")
    if errors:
        raise typer.Exit(EXIT_PARTIAL)


@screen_app.command("send")
def screen_send(
    paths: Annotated[list[Path], typer.Argument(help="PNG/JPEG files or folders of them.")],
    device: Annotated[str, typer.Option("--device", help="The screen's name, e.g. desk1.")],
    fps: Annotated[
        float | None,
        typer.Option("--fps", min=0.01, help="Frames per second (default: as fast as answered)."),
    ] = None,
    url: UrlOpt = None,
    token: ProducerTokenOpt = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Replay image files as DEVICE's screen, stamped with the time each is sent.

    Reconnects with backoff and resends an unanswered frame under the same id. Exit code 2 when
    the server refused some frames (each refusal is printed with its reason).
    """
    from tradelake.jobs.vision import image_files
    from tradelake.stream.producer import frames_from_files

    with command(json) as console:
        sender = _frame_sender(home, device, url, token)
        report = sender.send_all(frames_from_files(image_files(paths), fps=fps))
        if json:
            console.emit_json(report.__dict__)
        else:
            console.info(
                f"{report.sent} frames sent to {device}: {report.accepted} accepted, "
                f"{report.duplicate} duplicate, {len(report.errors)} refused, "
                f"{report.reconnects} reconnects"
            )
        _exit_on_refusals(console, report.errors, printed=json)


@screen_app.command("capture")
def screen_capture(
    device: Annotated[str, typer.Option("--device", help="The screen's name, e.g. desk1.")],
    fps: Annotated[float, typer.Option("--fps", min=0.01, help="Grabs per second.")] = 2.0,
    monitor: Annotated[
        int, typer.Option("--monitor", help="Monitor to grab: 1 = primary, 0 = all of them.")
    ] = 1,
    region: Annotated[
        str | None,
        typer.Option("--region", help="X,Y,W,H of the screen to grab instead of a monitor."),
    ] = None,
    image_format: Annotated[
        str, typer.Option("--format", help="png (lossless) or jpeg (smaller).")
    ] = "png",
    frames: Annotated[
        int | None, typer.Option("--frames", min=1, help="Stop after this many grabs.")
    ] = None,
    url: UrlOpt = None,
    token: ProducerTokenOpt = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Grab this machine's screen FPS times a second and send it as DEVICE's frames.

    Runs until Ctrl-C (or --frames grabs). Reconnects with backoff and resends an unanswered
    frame under the same id; an unchanged screen is answered duplicate (landed once).
    """
    from tradelake.stream.capture import Region, as_frames, capture_frames

    with command(json) as console:
        sender = _frame_sender(home, device, url, token)
        if image_format not in ("png", "jpeg"):
            raise ConfigError(f"--format {image_format!r} is not one of: png, jpeg")
        grabs = capture_frames(
            fps=fps,
            monitor=monitor,
            region=Region.parse(region) if region else None,
            image_format="png" if image_format == "png" else "jpeg",
            max_frames=frames,
        )
        try:
            report = sender.send_all(as_frames(grabs))
        except KeyboardInterrupt:
            console.info("capture stopped")
            return
        if json:
            console.emit_json({k: v for k, v in report.__dict__.items() if k != "answers"})
        else:
            console.info(
                f"{report.sent} grabs sent as {device}: {report.accepted} accepted, "
                f"{report.duplicate} duplicate (screen unchanged), {len(report.errors)} refused, "
                f"{report.reconnects} reconnects"
            )
        _exit_on_refusals(console, report.errors, printed=json)


@alerts_app.callback()
def alerts_list(
    ctx: typer.Context,
    since: Annotated[
        datetime | None,
        typer.Option("--since", help="Only alerts sent at or after (ISO time, UTC)."),
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """List the stored alerts, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    with command(json) as console:
        alerts = open_platform(home).alerts(since)
        rows = [_alert_row(a.to_dict()) for a in alerts]
        if json:
            console.emit_json([a.to_dict() for a in alerts])
        elif not rows:
            console.info("no alerts yet")
        else:
            console.frame(rows_table(rows), title="Alerts")


@alerts_app.command("show")
def alerts_show(
    alert_id: Annotated[str, typer.Argument(help="The alert's id (from `tradelake alerts`).")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Print one alert's chain: alert → signal → frame → landed image path and sha256."""
    with command(json) as console:
        chain = open_platform(home).alert_chain(alert_id)
        if json:
            console.emit_json(chain.to_dict())
            return
        alert, signal = chain.alert, chain.signal
        lines = [f"alert  {alert.alert_id}  rule {alert.rule}  sent {alert.sent_ts.isoformat()}"]
        if signal is None:
            lines.append("signal (no img_signals row staged yet for this frame)")
        else:
            lines.append(
                f"signal {signal['signal']} {signal['prob']:.3f}  model {signal['model_version']}"
            )
        state = "verified" if chain.image_verified else "DOES NOT MATCH its sha256"
        lines += [
            f"frame  {alert.frame_id}  device {alert.device}  "
            f"captured {alert.frame_ts.isoformat()}",
            f"image  {chain.image_path}",
            f"sha256 {chain.sha256} ({state})",
        ]
        for line in lines:
            console.info(line, wrap=False)


def _alert_row(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("alert_id", "rule", "device", "signal", "prob", "frame_ts", "sent_ts", "frame_id")
    return {k: (round(row[k], 3) if k == "prob" else row[k]) for k in keys}


def _warn_missing_tokens(console: Console, producer: str | None, viewer: str | None) -> None:
    if not producer:
        console.info(
            "[yellow]no producer token configured ($TRADELAKE_PRODUCER_TOKEN): "
            "frames are refused[/]"
        )
    if not viewer:
        console.info(
            "[yellow]no viewer token configured ($TRADELAKE_VIEWER_TOKEN): "
            "alert feeds are refused[/]"
        )
