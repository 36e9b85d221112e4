"""The root `stratascope` command and the one way a command fails."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

try:  # typer >= 0.2x runs commands in its own vendored click: its context is the one that is current
    from typer._click.globals import get_current_context
except ImportError:  # older typer runs them in click itself
    from click import get_current_context

from ..services import Services, build_services

app = typer.Typer(
    name="stratascope",
    help="An image server for microscopy that reads pixels straight from object storage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the log lines of the libraries "
                                          "stratascope uses (tifffile, zarr, ...) and its own progress.")] = False,
) -> None:
    """An image server for microscopy that reads pixels straight from object storage."""
    configure_logging(verbose)


class _OwnLogsOnly(logging.Filter):
    """Lets through stratascope's own records; other libraries' only with --verbose."""

    verbose = False

    def filter(self, record: logging.LogRecord) -> bool:
        return self.verbose or record.name == "stratascope" or record.name.startswith("stratascope.")


_FILTER = _OwnLogsOnly()


def configure_logging(verbose: bool = False) -> None:
    """One handler on stderr; third-party log lines (tifffile's ERROR/WARNING about a file it is
    about to reject, zarr's warnings) appear only with --verbose, before the one-line error."""
    root = logging.getLogger()
    if not any(_FILTER in h.filters for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_FILTER)
        root.addHandler(handler)
        logging.captureWarnings(True)  # warnings.warn from libraries become "py.warnings" records
    _FILTER.verbose = verbose
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def fail(message: str, code: int = 1) -> None:
    """Print one clear line to stderr and exit (1 = failure, 2 = usage error)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def services() -> Services:
    """This command's services: built once per invocation by its root context, closed when it ends."""
    root = get_current_context().find_root()
    if not isinstance(root.obj, Services):
        root.obj = build_services()
        root.call_on_close(root.obj.close)
    return root.obj


def tidy_help(command) -> None:
    """No internal type names in --help (typer >= 0.2x prints `<bool>` next to every flag, even
    --help): flags and --help get an empty metavar; any value option or argument still without
    one gets its name in capitals. Every command's own options carry explicit metavars."""
    import click

    try:
        from typer import _click as vendored
    except ImportError:  # older typer runs on click itself
        vendored = click
    help_option = command.get_help_option(vendored.Context(command))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if param.metavar is None:
            if getattr(param, "is_flag", False) or getattr(param, "count", False):
                param.metavar = ""
            elif param.name:
                param.metavar = param.name.upper()
        if param.param_type_name == "argument" and hasattr(param, "_usage_display_name"):
            # click's convention, not typer's `{name}`: URL... when required, [URL]... when optional
            usage = param.metavar if param.required else f"[{param.metavar}]"
            param._usage_display_name = lambda usage=usage, many=param.nargs != 1: usage + ("..." if many else "")
            param.display_type_rich = lambda ctx: None  # the metavar says it all (typer adds `<list[str]>`)
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)


def build_command():
    """The click command of `app`, its help tidied (what `main()` runs)."""
    from typer.main import get_command

    command = get_command(app)
    tidy_help(command)
    return command
