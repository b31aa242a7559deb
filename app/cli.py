"""Operator commands: ``flask --app wsgi projections status | catch-up | rebuild | skip``,
``flask --app wsgi process-managers status | run``, ``flask --app wsgi events tail |
encrypt-personal-data`` and
``flask --app wsgi database status | upgrade | copy-to-postgresql`` (app/schema.py, app/transfer.py)."""

import getpass
import json
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import DBAPIError

from app import eventlog, log_rewrites, schema
from app.bus import bus
from app.config import StartupError
from app.db import transaction
from app.projector import SkipRefused
from app.rebuild import RebuildFailed
from app.transfer import database


def loading_only_to_list() -> bool:
    """Whether the flask command is loading the app only to list its commands (``flask
    --help``, or to find the one to run, which starts the app itself) or its routes: a
    start would make a database as a side effect."""
    context = click.get_current_context(silent=True)
    return context is not None and (context.parent is None or context.command.name == "routes")


@with_appcontext
def _started() -> None:
    """The app started (see app.start_app) before any command of the group runs."""
    from app import start_app  # the package imports this module first

    try:
        start_app(current_app._get_current_object())
    except StartupError as error:
        raise click.ClickException(str(error)) from None


projections = AppGroup("projections", help="See, apply, rebuild or unblock the read model.", callback=_started)
process_managers = AppGroup("process-managers", help="See or run the process managers.", callback=_started)
events = AppGroup("events", help="Read the event log.", callback=_started)


def _projector():
    return current_app.extensions["projector"]


def _error_note(error: dict | None) -> str:
    return f"{error['type']} at {error['position']} (x{error['retries']}): {error['message']}" if error else ""


@projections.command("status")
def status() -> None:
    """Each projection's state, checkpoint, lag and last error, as a table."""
    rows = _projector().status()
    click.echo(f"{'projection':<20} {'state':<12} {'checkpoint':>10} {'head':>10} {'lag':>8}  last error")
    for s in rows:
        note = _error_note(s["last_error"])
        if s["last_skip"]:
            note += f"  [skipped {s['last_skip']['position']} by {s['last_skip']['by']}: {s['last_skip']['reason']}]"
        click.echo(f"{s['name']:<20} {s['state']:<12} {s['checkpoint']:>10} {s['head']:>10} {s['lag']:>8}  {note}")


@projections.command("catch-up")
def catch_up() -> None:
    """Apply pending events to every projection now, failing ones included (the app also does this at start)."""
    read = _projector().catch_up(force=True)
    click.echo(f"Caught up: {read} events read.")


class _Progress:
    """A progress bar on a terminal; a line every few seconds otherwise."""

    def __init__(self, name: str):
        self.name, self.started, self.last_line = name, time.monotonic(), 0.0
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate and total > done else 0
        if sys.stdout.isatty():
            if self.bar is None:
                self.bar = click.progressbar(length=max(total, 1), label=self.name, show_eta=True, show_pos=True)
                self.bar.__enter__()
            self.bar.update(done - self.bar.pos)
        elif time.monotonic() - self.last_line >= 2 or done >= total:
            self.last_line = time.monotonic()
            click.echo(f"{self.name}: {done}/{total} events, {rate:,.0f}/s, {left:,.0f}s left")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@projections.command("rebuild")
@click.argument("names", nargs=-1)
def rebuild(names: tuple[str, ...]) -> None:
    """Rebuild NAMES (default: all) in one pass over the log, beside the live tables, then swap them in."""
    projector = _projector()
    try:
        chosen = projector.by_name(names)
    except KeyError as unknown:
        raise click.BadParameter(f"no projection named {unknown}; known: {[p.name for p in projector.projections]}")
    names = [projection.name for projection in chosen]
    progress = _Progress("rebuild")
    started = time.monotonic()
    try:
        replayed = projector.rebuild(names, progress=progress)  # one pass over the log for all of them
    except RebuildFailed as failure:
        raise click.ClickException(str(failure)) from None
    finally:
        progress.close()
    seconds = time.monotonic() - started
    click.echo(f"Rebuilt {', '.join(names)} from {replayed} events in {seconds:.1f}s.")


@projections.command("skip")
@click.argument("name")
@click.argument("position", type=int)
@click.option("--reason", required=True, help="Why the event may be passed over (kept on record).")
def skip(name: str, position: int, reason: str) -> None:
    """Let projection NAME pass over the event at POSITION it is stuck on, on record."""
    try:
        _projector().skip(name, position, reason, skipped_by=getpass.getuser())
    except KeyError:
        raise click.BadParameter(f"no projection named {name!r}") from None
    except SkipRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"{name} skipped event {position}; it has caught up since.")


@process_managers.command("status")
def managers_status() -> None:
    """Each process manager's state, checkpoint, pending reactions and last error, as a table."""
    rows = current_app.extensions["process_managers"].status()
    click.echo(f"{'process manager':<32} {'state':<12} {'checkpoint':>10} {'head':>10} {'pending':>8}  last error")
    for s in rows:
        note = _error_note(s["last_error"])
        click.echo(f"{s['name']:<32} {s['state']:<12} {s['checkpoint']:>10} {s['head']:>10} {s['pending']:>8}  {note}")


@process_managers.command("run")
def managers_run() -> None:
    """React to every pending event now, failing managers included; exits 1 if a manager still fails."""
    managers = current_app.extensions["process_managers"]
    managers.run(force=True)
    # Counted since this process started: unless APP_SKIP_STARTUP is set, the app's start ran them already.
    ran = managers.reactions_run
    click.echo(f"Ran {ran} reaction{'' if ran == 1 else 's'}.")
    failing = [s for s in managers.status() if s["state"] == "failing"]
    if failing:
        raise click.ClickException("; ".join(f"{s['name']} fails: {_error_note(s['last_error'])}" for s in failing))


@events.command("tail")
@click.option("--after", type=int, default=None, help="Start after this position (default: the head).")
@click.option("--interval", type=float, default=0.5, help="Seconds between looks at the log.")
@click.option("--once", is_flag=True, help="Print what is there and stop.")
def tail(after: int | None, interval: float, once: bool) -> None:
    """Print events as they are appended, one JSON object per line."""
    position = after
    while True:
        with transaction("projector", read_only=True) as tx:
            if position is None:
                position = eventlog.head(tx)
            batch = eventlog.read_after(tx, position, 1000)
        for event in batch:
            line = {k: getattr(event, k) for k in ("position", "stream_type", "stream_id", "version", "type")}
            line.update(data=json.loads(event.payload), occurred_at=event.occurred_at, correlation_id=event.correlation_id)
            click.echo(json.dumps(line, ensure_ascii=False))
            position = event.position
        if once and len(batch) < 1000:
            return
        if len(batch) < 1000:
            time.sleep(interval)


@events.command("encrypt-personal-data")
def encrypt_personal_data() -> None:
    """Seal, in place, the personal fields that events from before keys hold in plaintext."""
    try:
        with bus().unit_of_work() as uow:
            done = log_rewrites.encrypt_personal_data(uow, getpass.getuser())
    except DBAPIError as error:  # on PostgreSQL, most likely: not the log's owner
        raise click.ClickException(
            f"nothing was changed: {' '.join(str(error.orig).split())} (on PostgreSQL, run it as the owner of the"
            " schema: DATABASE_URL with the user that made it)"
        ) from None
    if done is None:
        click.echo("No personal field of the log is in plaintext: nothing to do.")
        return
    current_app.extensions["engine"].forget_old_versions()  # no old page of the plaintext in the WAL
    click.echo(
        f"Sealed the personal fields of {done.events} events of {done.streams} streams"
        f" ({len(done.erased_streams)} erased: they read as placeholders from now on)."
    )


@database.command("status")
@with_appcontext
def database_status() -> None:
    """The schema's version, this code's, and the steps an upgrade would apply."""
    engine = current_app.extensions["engine"]
    try:
        click.echo(f"database: {engine.describe()}")
        click.echo(schema.describe(engine.name, engine.schema_version()))
    except StartupError as error:
        raise click.ClickException(str(error)) from None


@database.command("upgrade")
@with_appcontext
def database_upgrade() -> None:
    """Bring the schema to this code's version, as a start would (without starting the service)."""
    engine = current_app.extensions["engine"]
    try:
        engine.check()
        before = engine.schema_version()
        engine.migrate()
    except StartupError as error:
        raise click.ClickException(str(error)) from None
    after = schema.current(engine.name)
    done = f"made at version {after}" if before is None else f"upgraded from version {before} to {after}"
    click.echo(f"{engine.describe()}: {done if before != after else f'at version {after} already'}")


def init_app(app: Flask) -> None:
    app.cli.add_command(projections)
    app.cli.add_command(process_managers)
    app.cli.add_command(events)
    app.cli.add_command(database)
