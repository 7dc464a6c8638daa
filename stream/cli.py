"""The ``driftstream`` command: one group, one-line errors, ``--debug`` for tracebacks."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from stream import __version__
from stream.errors import DriftstreamError

__all__ = ["cli", "main"]

#: Read when neither --config nor DRIFTSTREAM_CONFIG names a file (``init`` writes it).
DEFAULT_CONFIG = "driftstream.toml"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False),
    envvar="DRIFTSTREAM_CONFIG",
    help="Config file (TOML); DRIFTSTREAM_* environment variables override it. "
    "Default: ./driftstream.toml when it exists (what `driftstream init` writes).",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(__version__, prog_name="driftstream")
@click.pass_context
def cli(ctx: click.Context, config: str | None, debug: bool) -> None:
    r"""Streaming data-drift detection for ML features on Kafka and Redis.

    \b
    First steps (README.md walks through them with your own data):
      driftstream init                      # writes ./driftstream.toml
      driftstream config check              # validate it
      driftstream topics create
      driftstream reference build --model M --file train.csv
      driftstream produce --file history.jsonl
      driftstream replay --from 2026-01-01 --to 2026-01-15 --alerts-out alerts.jsonl
    """
    if config is None and Path(DEFAULT_CONFIG).is_file():
        config = DEFAULT_CONFIG  # what `init` writes, found where it was written
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["config"] = config


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn known errors into one line on stderr (exit 1)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if not debug:  # the Kafka clients' retry-loop lines: one per message per 10 s
        from stream.adapters.client_logs import throttle_client_logs

        throttle_client_logs()
    obj: dict[str, object] = {}
    try:
        rv = cli.main(args=args, prog_name="driftstream", standalone_mode=False, obj=obj)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except DriftstreamError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"driftstream: error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line unless --debug
        if debug:
            traceback.print_exc()
        from stream.adapters.reach import explain

        line = explain(exc, obj.get("settings"))
        if line is not None:  # a backend went away mid-run: the same line as up front
            click.echo(f"driftstream: error: {line}", err=True)
            return 1
        click.echo(
            f"driftstream: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug)",
            err=True,
        )
        return 2
    # With standalone_mode=False click returns ctx.exit(n)'s code instead of raising.
    return rv if isinstance(rv, int) else 0


# -- local stack ----------------------------------------------------------------------
# The commands live in stream.localstack so `python -m stream.localstack` (used by
# `make test` before the package's CLI matters) and `driftstream stack` are one code path.
from stream.localstack._commands import COMMANDS as _STACK_COMMANDS  # noqa: E402


@cli.group("stack")
def stack() -> None:
    """Local Kafka (KRaft) + Redis on loopback ports: up, down, status."""


for _name in ("up", "down", "status"):
    stack.add_command(_STACK_COMMANDS[_name])


# -- data plane -------------------------------------------------------------------------
from stream.commands.check import check  # noqa: E402
from stream.commands.deadletter import dead_letter  # noqa: E402
from stream.commands.demo import demo  # noqa: E402
from stream.commands.forward import forward  # noqa: E402
from stream.commands.ops import alerts_group, config_group, init, status  # noqa: E402
from stream.commands.reference import reference  # noqa: E402
from stream.commands.replay import namespace, replay  # noqa: E402
from stream.commands.report import report  # noqa: E402
from stream.commands.run import produce, topics, worker  # noqa: E402

cli.add_command(worker)
cli.add_command(produce)
cli.add_command(topics)
cli.add_command(reference)
cli.add_command(replay)
cli.add_command(namespace)
cli.add_command(demo)
cli.add_command(forward)
cli.add_command(init)
cli.add_command(config_group)
cli.add_command(status)
cli.add_command(alerts_group)
cli.add_command(report)
cli.add_command(check)
cli.add_command(dead_letter)


def _keep_examples(group: click.Group) -> None:
    r"""Make each literal ``\b`` line of a help text click's no-rewrap marker.

    Docstrings are raw strings so shell examples keep their trailing backslash;
    click marks a paragraph it must not rewrap with a real backspace character,
    so without this, help shows ``\b`` and runs the example lines together.
    """
    if group.help:
        group.help = group.help.replace("\\b\n", "\b\n")
    for cmd in group.commands.values():
        if isinstance(cmd, click.Group):
            _keep_examples(cmd)
        elif cmd.help:
            cmd.help = cmd.help.replace("\\b\n", "\b\n")


_keep_examples(cli)

if __name__ == "__main__":
    sys.exit(main())
