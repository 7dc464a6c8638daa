"""Click commands shared by ``python -m stream.localstack`` and ``driftstream stack``.

stdout carries only what a shell may ``eval`` (comments and one ``export`` line);
progress goes to stderr.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import sys
import traceback
from pathlib import Path

import click

from stream.errors import DriftstreamError, StackError

from ._config import default_stack_dir
from ._prepare import prepare
from ._stack import STATE_FILE, LocalStack

__all__ = ["COMMANDS", "group", "run"]

_STACK_DIR = click.option(
    "--stack-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Files, logs, stack.json [default: $DRIFTSTREAM_STACK_DIR or ~/.cache/driftstream/stack].",
)


def _progress_to_stderr() -> None:
    logger = logging.getLogger("stream.localstack")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("driftstream: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _parse_properties(pairs: tuple[str, ...]) -> dict[str, str]:
    props: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            msg = f"--kafka-property expects KEY=VALUE, got {pair!r}"
            raise StackError(msg)
        props[key.strip()] = value.strip()
    return props


@click.command("prepare")
@click.option(
    "--no-install-redis", is_flag=True, help="Fail instead of apt-get installing redis-server."
)
def prepare_cmd(no_install_redis: bool) -> None:
    """Check java/mvn, install redis-server if missing, fetch the Kafka jars once."""
    _progress_to_stderr()
    ready = prepare(install_redis=not no_install_redis)
    click.echo(f"# kafka {ready.kafka_version} jars: {ready.libs}")
    click.echo(f"# java: {ready.java}  redis-server: {ready.redis_server}")


@click.command("up")
@_STACK_DIR
@click.option(
    "--kafka-port",
    type=int,
    envvar="DRIFTSTREAM_STACK_KAFKA_PORT",
    help="Broker port [default: a free one; env DRIFTSTREAM_STACK_KAFKA_PORT].",
)
@click.option(
    "--redis-port",
    type=int,
    envvar="DRIFTSTREAM_STACK_REDIS_PORT",
    help="Redis port [default: a free one; env DRIFTSTREAM_STACK_REDIS_PORT].",
)
@click.option(
    "--jvm-opts",
    default="",
    envvar="DRIFTSTREAM_KAFKA_JVM_OPTS",
    help="Extra broker JVM options, e.g. '-Xmx1g' [env DRIFTSTREAM_KAFKA_JVM_OPTS].",
)
@click.option(
    "--kafka-property",
    "kafka_properties",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a server.properties entry (repeatable).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds per server.",
)
@click.option(
    "--secure",
    is_flag=True,
    help="Kafka over SASL_SSL (SCRAM-SHA-512) and Redis over TLS with ACL users, "
    "as production runs; passwords go to <stack-dir>/secure.env, never to the screen.",
)
def up_cmd(
    stack_dir: Path | None,
    kafka_port: int | None,
    redis_port: int | None,
    jvm_opts: str,
    kafka_properties: tuple[str, ...],
    timeout_s: float,
    secure: bool,
) -> None:
    """Start Kafka (KRaft) + Redis, or reuse the running stack."""
    _progress_to_stderr()
    stack = LocalStack.start(
        stack_dir,
        kafka_port=kafka_port,
        redis_port=redis_port,
        jvm_opts=shlex.split(jvm_opts),
        kafka_properties=_parse_properties(kafka_properties),
        timeout_s=timeout_s,
        secure=secure,
    )
    for line in stack.describe():
        click.echo(line)


@click.command("down")
@_STACK_DIR
@click.option("--purge", is_flag=True, help="Also delete the stack directory (data and logs).")
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=30.0,
    show_default=True,
    help="Grace before SIGKILL.",
)
def down_cmd(stack_dir: Path | None, purge: bool, timeout_s: float) -> None:
    """Stop Kafka and Redis; no process is left behind."""
    where = stack_dir or default_stack_dir()
    stack = LocalStack.load(stack_dir)
    if stack is None:
        click.echo(f"# no stack recorded in {where}")
    else:
        stack.stop(timeout_s=timeout_s)
        click.echo(f"# stopped kafka (pid {stack.kafka_pid}) and redis (pid {stack.redis_pid})")
    if purge and (where / ".driftstream-stack").exists():
        shutil.rmtree(where)
        click.echo(f"# removed {where}")


@click.command("status")
@_STACK_DIR
@click.pass_context
def status_cmd(ctx: click.Context, stack_dir: Path | None) -> None:
    """Say what runs; exit 0 when both servers answer, 3 otherwise."""
    stack = LocalStack.load(stack_dir)
    if stack is None:
        click.echo(f"no stack recorded in {stack_dir or default_stack_dir()} ({STATE_FILE})")
        ctx.exit(3)
    report = stack.status()
    for line in report.describe():
        click.echo(line)
    if not report.running:
        ctx.exit(3)


COMMANDS: dict[str, click.Command] = {
    "prepare": prepare_cmd,
    "up": up_cmd,
    "down": down_cmd,
    "status": status_cmd,
}


@click.group("localstack", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def group(debug: bool) -> None:
    """The local Kafka (KRaft) + Redis stack for development and tests."""


for _command in COMMANDS.values():
    group.add_command(_command)


def run(argv: list[str] | None = None) -> int:
    """Run the group with one-line errors (``--debug`` for the traceback); return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # With standalone_mode=False click *returns* a ctx.exit(n) code instead of raising.
        code = group.main(args=args, prog_name="python -m stream.localstack", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except DriftstreamError as exc:
        if "--debug" in args:
            traceback.print_exc()
        click.echo(f"driftstream: error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return code if isinstance(code, int) else 0
