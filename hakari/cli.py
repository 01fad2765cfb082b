"""The `hakari` command: argument parsing, dispatch, errors and exit codes."""

from __future__ import annotations

import argparse
import importlib
import sys

from hakari import __version__
from hakari.commands import COMMANDS
from hakari.display import escape_text
from hakari.errors import EXIT_FAILED, HakariError

PROG = "hakari"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Instance high availability for OpenStack on Pacemaker/Corosync: "
        "prove a lost compute host is fenced, then evacuate its instances.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config-file", action="append", metavar="PATH",
        help="hakari configuration file (repeatable; later files override earlier "
        "ones). Default: /etc/hakari/hakari.conf if it exists.")
    parser.add_argument(
        "--os-cloud", metavar="NAME",
        help="cloud in clouds.yaml to use; overrides [openstack] cloud.")
    parser.add_argument(
        "--debug", action="store_true",
        help="show the Python traceback of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"hakari.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except HakariError as err:
        _error(str(err))
        return err.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error worth a message.
        return EXIT_FAILED
    except Exception as err:  # noqa: BLE001 - the last line of defence: never a traceback
        if args.debug:
            raise
        _error(f"internal error: {type(err).__name__}: {err} (a bug in hakari; "
               "rerun with --debug for details)")
        return EXIT_FAILED


def _error(message: str) -> None:
    # Messages quote what they refuse (host names, paths): never let that print a line
    # of its own or a terminal escape.
    print(f"{PROG}: error: {escape_text(' '.join(message.split()))}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
