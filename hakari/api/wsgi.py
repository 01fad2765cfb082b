"""The API for a WSGI server (uwsgi, mod_wsgi): ``hakari.api.wsgi:application``.

The configuration files are those of HAKARI_CONFIG_FILE (several separated by commas),
else /etc/hakari/hakari.conf. Each process started by the server builds its own
application with its own notification workers: with uwsgi, load the application in each
worker (lazy-apps = true, enable-threads = true), never once before forking.
"""

from __future__ import annotations

import os

from hakari import config
from hakari.api import wiring


def _config_files() -> list[str] | None:
    named = os.environ.get("HAKARI_CONFIG_FILE", "")
    return [p for p in named.split(",") if p] or None


application = wiring.build(config.load(_config_files())).app
