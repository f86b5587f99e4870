"""The ``vde`` command line. Thin: parses options, builds objects, calls the domain.

Sub-commands live in one module each and are imported only when used, so
``vde --help`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from vde import __version__
from vde.errors import VdeError

# name -> "module:attribute"; each module owns its command and nothing else.
COMMANDS: dict[str, str] = {
    "flukso": "vde.cli.flukso:flukso",
    "simulator": "vde.cli.simulator:simulator",
    "db": "vde.cli.db:db",
    "config": "vde.cli.config:config",
    "recompute": "vde.cli.config:recompute",
    "sync": "vde.cli.sync:sync",
    "alerts": "vde.cli.alerts:alerts",
    "serve": "vde.cli.web:serve",
    "users": "vde.cli.users:users",
    "demo": "vde.cli.demo:demo",
    "doctor": "vde.cli.doctor:doctor",
    "sharing": "vde.cli.sharing:sharing",
    "export": "vde.cli.export:export",
    "tokens": "vde.cli.tokens:tokens",
}


class LazyGroup(click.Group):
    def _available(self) -> dict[str, str]:
        out = {}
        for name, target in COMMANDS.items():
            mod = target.split(":")[0]
            if importlib.util.find_spec(mod) is not None:
                out[name] = target
        return out

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._available().get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        mod, attr = target.split(":")
        return getattr(importlib.import_module(mod), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vde")
@click.option(
    "--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (env VDE_LOG_LEVEL)."
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log line format (env VDE_LOG_FORMAT).",
)
def cli(log_level: str | None, log_format: str | None) -> None:
    """vde — Voisin d'énergie: Flukso data for energy communities.

    Sync sensors from the Flukso API, store raw and installation power, alert on
    missing data and wrong signs, and serve the members' dashboard.
    """
    from vde import logs

    logs.configure(log_level, log_format)


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns vde's errors into one clear line and an exit code."""
    # files vde creates (database, block cache, exports) hold secrets: owner only
    os.umask(0o077)
    try:
        cli.main(args=argv, prog_name="vde", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except VdeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
