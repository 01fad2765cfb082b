"""One module per `hakari` subcommand: ``add_parser(subparsers)`` and ``run(args) -> int``.

`hakari` imports every one of them to build its parser, so a command module imports at
its top only what is cheap; what is slow to import (openstacksdk, oslo.config, lxml,
jinja2, yaml) its ``run`` imports, in one place, saying so.
"""

COMMANDS = ("status", "render", "apply_cib", "evacuate", "recover_instance", "notify",
            "incidents", "release", "retry", "hold", "unhold", "engine", "alert", "install",
            "api")


def load_config(args):
    """The configuration the command line names (--config-file, --os-cloud)."""
    # Lazy: every `hakari` invocation imports this package to build its parser;
    # oslo.config would add 35 ms to the 60 ms of `hakari --help`.
    from hakari import config

    return config.load(args.config_file, args.os_cloud)
