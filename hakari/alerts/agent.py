"""The Pacemaker alert agent: one ``CRM_alert_*`` event → one spool file, then a nudge to
the engine.

Pacemaker runs it as hacluster on every node that sees an event, once per recipient,
all concurrently, killed after the alert timeout. The recipient is the hakari.conf path;
the spool is ``<state_dir>/spool``, which the agent also keeps pruned (spoolio), since
only the node running the engine reads its own. Standard library only, and only what the job needs:
a call must cost about what starting Python costs (bench/alert.py).

Exit status (Pacemaker logs a non-zero one with our stderr line):
  0  spooled, already spooled, or a well-formed event hakari deliberately ignores
  1  the event could not be spooled (state directory, permissions, disk); the engine
     still sees the change at its next reconcile of the cluster state
  2  the environment was rejected (missing or malformed CRM_alert_* variables)
Never a traceback: every failure is one line on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time

from hakari import paths
from hakari.alerts import record, spoolio, statedir

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REJECTED = 2

PROG = "hakari-alert"


def main(environ=None) -> int:
    env = os.environ if environ is None else environ
    try:
        return _run(env)
    except BaseException as err:  # noqa: BLE001 - Pacemaker gets an exit code, never a traceback
        _log(f"internal error: {type(err).__name__}: {err}")
        return EXIT_FAILED


def _run(env) -> int:
    try:
        rec = record.normalize(env)
    except record.Ignored:
        return EXIT_OK
    except record.Rejected as err:
        kind = env.get("CRM_alert_kind", "")
        label = kind if kind in record.KINDS else "an"
        _log(f"rejected {label} alert: {err}")
        return EXIT_REJECTED
    try:
        state_dir = statedir.resolve(env.get("CRM_alert_recipient"))
    except statedir.StateDirError as err:
        _log(f"cannot spool {rec['kind']} alert: {err}")
        return EXIT_FAILED
    rec["seen_on"] = os.uname().nodename
    rec["spooled_at"] = round(time.time(), 6)
    name = record.spool_name(rec["key"], rec["kind"])
    spool = paths.spool_dir(state_dir)
    data = json.dumps(rec, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    try:
        spoolio.check_spool_dir(spool)
        spoolio.write_once(spool, name, data + b"\n", paths.done_dir(state_dir))
    except spoolio.SpoolError as err:
        _log(f"cannot spool {rec['kind']} alert: {err}")
        return EXIT_FAILED
    # Also for a duplicate: the engine may have missed the first nudge.
    spoolio.wake(paths.wake_socket(state_dir), name.encode("ascii"))
    try:
        spoolio.prune_if_due(spool, time.time())
    except OSError as err:
        # The event is spooled: that is what the exit status reports.
        _log(f"cannot prune {spool}: {err.strerror or err}")
    return EXIT_OK


def _log(message: str) -> None:
    line = " ".join("".join(ch if ch.isprintable() else "?" for ch in message).split())
    try:
        sys.stderr.write(f"{PROG}: {line[:400]}\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - no stderr: nothing more to do
        pass


if __name__ == "__main__":
    sys.exit(main())
