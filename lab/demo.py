"""`make demo`: the drill on the local lab, stage by stage.

Stage 1: a real single-node Pacemaker cluster with one ghost node (in corosync's nodelist,
never started). Pacemaker cannot know the ghost is down, so it fences it at start-up
through the lab fence agent; `hakari status` then shows the ghost offline and fenced.
The cluster is always stopped again, also on Ctrl-C or SIGTERM. Exit 0 on success.
"""

from __future__ import annotations

import subprocess
import sys
import time

from lab.cluster import Lab, LabError, exit_on_sigterm

NAME = "demo"
GHOST = "node2"


def say(msg: str) -> None:
    print(f"demo: {msg}", flush=True)


def stage1() -> int:
    started = time.monotonic()
    say("starting a single-node Pacemaker cluster (node1) with ghost node node2 ...")
    lab = Lab.up(NAME, nodes=1, ghosts=1)
    try:
        say(f"cluster up in {lab.timings['total']:.1f}s (namespace {lab.netns('node1')}, "
            f"state {lab.path})")
        t = time.monotonic()
        lab.wait(lambda v: v.offline_clean(GHOST) and v.fenced(GHOST), timeout=60,
                 what=f"{GHOST} fenced")
        say(f"{GHOST} fenced {time.monotonic() - t:.1f}s later; hakari status on node1:")
        print(flush=True)
        res = lab.exec("node1", [sys.executable, "-m", "hakari", "status"], check=False,
                       timeout=60)
        sys.stdout.write(res.stdout.decode("utf-8", "replace"))
        sys.stderr.write(res.stderr.decode("utf-8", "replace"))
        print(flush=True)
        if res.returncode != 0:
            say(f"hakari status failed (exit {res.returncode})")
            return 1
        return 0
    finally:
        report = lab.down()
        say(f"cluster stopped in {report['seconds']:.1f}s; "
            f"total {time.monotonic() - started:.1f}s")


def main() -> int:
    exit_on_sigterm()
    try:
        return stage1()
    except (LabError, subprocess.SubprocessError) as err:
        say(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
