"""Test-only stand-in for `hakari ... engine`, run by ocf:hakari:evacuator through its
hakari_command parameter: it keeps the engine's contract (see the agent's docstring)
and nothing else, so the agent's start/stop/monitor can be tested without a cluster
or Nova.

    fake_hakari.py --config-file F [--os-cloud C] engine

Behaviour from FAKE_ENGINE (environment): "ok" (default) heartbeat every 0.2 s until
SIGTERM; "stuck" one heartbeat, then silence; "crash" exit 3 at once; "deaf" ignore
SIGTERM (stop must SIGKILL it); "slow" heartbeat only after 60 s.
"""

import configparser
import os
import signal
import sys
import time


def main(argv):
    if argv[-1:] != ["engine"] or "--config-file" not in argv:
        print(f"fake_hakari: unexpected arguments {argv}", file=sys.stderr)
        return 2
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(argv[argv.index("--config-file") + 1])
    state_dir = conf.defaults().get("state_dir", "/var/lib/hakari")
    heartbeat = os.path.join(state_dir, "engine.heartbeat")
    mode = os.environ.get("FAKE_ENGINE", "ok")
    print(f"fake_hakari: {mode} engine, pid {os.getpid()}, argv {argv}", flush=True)
    if mode == "crash":
        print("fake_hakari: cannot reach the cluster", flush=True)
        return 3
    stopping = []
    if mode == "deaf":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    if mode == "slow":
        time.sleep(60)
    beats = 0
    while not stopping:
        if mode != "stuck" or beats == 0:
            with open(heartbeat, "w") as f:
                f.write(f"{os.getpid()}\n")
            beats += 1
        time.sleep(0.2)
    print("fake_hakari: stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
