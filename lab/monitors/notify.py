"""Send one notification with masakari-monitors' own code, as its monitors do.

Run under .venv-monitors' Python (lab/monitors/requirements.txt), never hakari's:

    notify.py --config-file masakarimonitors.conf process HOST PROCESS_NAME
    notify.py --config-file masakarimonitors.conf vm HOST INSTANCE_UUID [DETAIL]

``process``: the event the process monitor sends when it cannot restart a process
(masakarimonitors/processmonitor/process_handler/handle_process.py builds it; that module
needs oslo.privsep, so the same dictionary is built here), posted by the monitors'
notifier, ``SendNotification.send_notification``. ``vm``: the instance monitor's callback
for a libvirt LIFECYCLE event (DETAIL defaults to STOPPED_FAILED, a crashed guest), which
posts through the same notifier. The notifier finds the API in the catalog (service type
``instance-ha``) with the ``[api]`` settings of the config file, retries as configured, and
logs failures rather than raising them: the caller checks the API for the notification.
"""

from __future__ import annotations

import argparse
import sys

import masakarimonitors.conf
from masakarimonitors.ha import masakari
from masakarimonitors.instancemonitor.libvirt_handler import callback
from oslo_log import log as oslo_logging
from oslo_utils import timeutils

CONF = masakarimonitors.conf.CONF


def process_event(host: str, process_name: str) -> dict:
    return {"notification": {"type": "PROCESS", "hostname": host,
                             "generated_time": timeutils.utcnow(),
                             "payload": {"event": "STOPPED",
                                         "process_name": process_name.split("/")[-1]}}}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config-file", required=True)
    sub = p.add_subparsers(dest="kind", required=True)
    s = sub.add_parser("process")
    s.add_argument("host")
    s.add_argument("process_name")
    s = sub.add_parser("vm")
    s.add_argument("host")
    s.add_argument("instance_uuid")
    s.add_argument("detail", nargs="?", default="STOPPED_FAILED")
    args = p.parse_args(argv)

    oslo_logging.register_options(CONF)
    CONF(["--config-file", args.config_file], project="masakarimonitors")
    oslo_logging.setup(CONF, "masakarimonitors")
    if args.kind == "process":
        masakari.SendNotification().send_notification(
            CONF.process.api_retry_max, CONF.process.api_retry_interval,
            process_event(args.host, args.process_name))
    else:
        callback.Callback().libvirt_event_callback(
            "LIFECYCLE", args.detail, args.instance_uuid, "VM", args.host,
            timeutils.utcnow())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
