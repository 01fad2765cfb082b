"""Drive the Nova lab by hand: python -m lab.nova {run,up,down,status,stop-compute,start-compute}.

  run            start in the foreground, print how to reach it, stop on Ctrl-C
  up / down      start detached (for make lab-up) / stop it by its PID file
  status         compute hosts as the lab sees them
  stop-compute H / start-compute H [--rebooted]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import signal
import sys
import time

from lab import nova

DEFAULT_RUN_DIR = nova.REPO / "lab" / "run" / "nova"


def _ready(run_dir: pathlib.Path) -> dict:
    try:
        return json.loads((run_dir / "ready.json").read_text())
    except (OSError, ValueError):
        sys.exit(f"no Nova lab running in {run_dir}")


def _print_info(ready: dict) -> None:
    print(f"Nova lab pid {ready['pid']}, up in {ready['startup_seconds']}s")
    for entry in ready["listen"]:
        where = f" (netns {entry['netns']})" if entry["netns"] else ""
        print(f"  {entry['base_url']}{where}")
    print(f"  auth_url {ready['auth_url']}  users admin/demo/alt, password {ready['password']}")
    if ready.get("clouds_yaml"):
        print(f"  OS_CLIENT_CONFIG_FILE={ready['clouds_yaml']} OS_CLOUD={ready['cloud']}")
    if ready.get("netns_clouds_yaml"):
        print(f"  inside namespaces: {ready['netns_clouds_yaml']}")
    print(f"  compute hosts: {', '.join(ready['hosts'])}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.nova", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=pathlib.Path, default=DEFAULT_RUN_DIR)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("run", "up"):
        s = sub.add_parser(name)
        s.add_argument("--hosts", default=",".join(nova.DEFAULT_HOSTS))
        s.add_argument("--listen", action="append", default=None)
        s.add_argument("--netns")
        s.add_argument("--netns-listen", action="append", default=[])
        s.add_argument("--port", type=int, default=0)
    sub.add_parser("down")
    sub.add_parser("status")
    s = sub.add_parser("stop-compute")
    s.add_argument("host")
    s = sub.add_parser("start-compute")
    s.add_argument("host")
    s.add_argument("--rebooted", action="store_true", help="the hypervisor comes back empty")
    args = p.parse_args(argv)
    run_dir = args.run_dir.resolve()

    if args.cmd in ("run", "up"):
        listen = args.listen if args.listen is not None else (
            [] if args.netns_listen else ["127.0.0.1"])
        try:
            lab = nova.start(run_dir, hosts=args.hosts.split(","), listen=listen,
                             netns=args.netns, netns_listen=args.netns_listen, port=args.port,
                             exit_with_parent=args.cmd == "run")
        except nova.NovaLabError as e:
            sys.exit(str(e))
        _print_info(lab.ready)
        print(f"  log {lab.log_path}")
        if args.cmd == "up":
            return 0
        print("Ctrl-C stops it.")
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        try:
            while lab.alive():
                time.sleep(0.5)
            print(f"the server exited; log tail:\n{lab.log_tail()}")
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            lab.stop()
    if args.cmd == "down":
        stopped = nova.down(run_dir)
        print("Nova lab stopped" if stopped else "no Nova lab was running")
        return 0

    ready = _ready(run_dir)
    control = nova.ControlClient(ready["control_socket"])
    if args.cmd == "status":
        _print_info(ready)
        for h in control.hosts():
            print(f"  {h['host']}: running={h['running']} up={h['up']} "
                  f"disabled={h['disabled']} forced_down={h['forced_down']} "
                  f"instances={h['instances']} on_hypervisor={h['hypervisor_instances']}")
    elif args.cmd == "stop-compute":
        print(json.dumps(control.stop_compute(args.host)))
    elif args.cmd == "start-compute":
        print(json.dumps(control.start_compute(args.host, rebooted=args.rebooted)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
