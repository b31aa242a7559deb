"""Operator commands: ``flask --app wsgi projections catch-up | rebuild [NAME ...]``."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup

projections = AppGroup("projections", help="Apply or rebuild the read model from the event log.")


def _projector():
    return current_app.extensions["projector"]


@projections.command("catch-up")
def catch_up() -> None:
    """Apply pending events to every projection (the app also does this at start)."""
    read = _projector().catch_up()
    click.echo(f"Caught up: {read} events read.")


@projections.command("rebuild")
@click.argument("names", nargs=-1)
def rebuild(names: tuple[str, ...]) -> None:
    """Throw away the read tables of NAMES (default: all) and replay the whole log into them."""
    projector = _projector()
    try:
        chosen = projector.by_name(names)
    except KeyError as unknown:
        raise click.BadParameter(f"no projection named {unknown}; known: {[p.name for p in projector.projections]}")
    replayed = projector.rebuild(p.name for p in chosen)
    click.echo(f"Rebuilt {', '.join(p.name for p in chosen)} from {replayed} events.")


def init_app(app: Flask) -> None:
    app.cli.add_command(projections)
