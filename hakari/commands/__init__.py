"""One module per `hakari` subcommand: ``add_parser(subparsers)`` and ``run(args) -> int``.

Modules import their heavy dependencies inside ``run`` so that `hakari --help` and the
alert path stay fast.
"""

COMMANDS = ("status", "render", "apply_cib", "evacuate", "recover_instance", "notify",
            "incidents", "release", "retry", "hold", "unhold", "engine", "alert", "install")
