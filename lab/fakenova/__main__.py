"""python -m lab.fakenova --port 0 --ready-file F [--hosts node1,node2 --servers-per-host N]

Serves until SIGTERM/SIGINT (or until --parent-pid is gone), then stops cleanly. The ready
file (written atomically once serving) holds FakeNova.info() as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import sys
import threading

from lab.fakenova.server import EvacuationConfig, FakeNova


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.fakenova", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="0: pick a free port")
    p.add_argument("--ready-file", help="write connection info (JSON) here when serving")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hosts", default="", help="comma-separated compute hosts, or a count")
    p.add_argument("--servers-per-host", type=int, default=0)
    p.add_argument("--max-microversion", default="2.104")
    p.add_argument("--rebuild-time", type=float, default=EvacuationConfig.rebuild_time)
    p.add_argument("--clouds-yaml", help="also write a clouds.yaml (cloud name: fakenova)")
    p.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    args = p.parse_args(argv)

    fake = FakeNova(port=args.port, seed=args.seed, max_microversion=args.max_microversion,
                    evacuation=EvacuationConfig(rebuild_time=args.rebuild_time))
    if args.hosts:
        hosts = int(args.hosts) if args.hosts.isdigit() else args.hosts.split(",")
        fake.populate(hosts, args.servers_per_host)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    fake.start()
    try:
        if args.clouds_yaml:
            from lab.fakenova.sdk import write_clouds_yaml
            write_clouds_yaml(args.clouds_yaml, fake.info())
        if args.ready_file:
            ready = pathlib.Path(args.ready_file)
            tmp = ready.with_name(ready.name + ".tmp")
            tmp.write_text(json.dumps(fake.info()))
            tmp.replace(ready)
        print(json.dumps(fake.info()), flush=True)
        while not done.wait(0.5):
            # Orphaned (the test runner was killed): do not outlive it.
            if args.parent_pid and not _alive(args.parent_pid):
                break
    finally:
        fake.stop()
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main())
