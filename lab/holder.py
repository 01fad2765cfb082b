"""A lab node's first process: its mounts, its hostname, its power supply and its reaper.

Started by the controller inside the node's network namespace and, through `unshare`, in
fresh mount and UTS namespaces (so the mounts die with it). It then:
- mounts a private /run and /dev/shm and bind-mounts the node's own /etc/corosync,
  /etc/pacemaker, /var/lib/{pacemaker,corosync}, logs, /etc/hakari and /var/lib/hakari;
- powers the node on when sent SIGUSR1: its cable up, then corosync and (once corosync
  answers) pacemakerd, or pacemaker-remoted alone on a remote node; its children, recorded
  in power.json with their start times;
- reaps every process that dies in the node. It is a child subreaper, so when a power cut
  SIGKILLs pacemakerd its orphaned daemons are reparented here and never linger as zombies;
- exits on SIGTERM, killing whatever still runs in the node.
Powering off is not its job: anyone (the lab, a fence agent in another node) SIGKILLs the
recorded daemons; this process only notices and records it.

Stdlib only; run as `python -m lab.holder --lab-dir D --node N`.
"""

from __future__ import annotations

import argparse
import ctypes
import grp
import os
import pwd
import signal
import socket
import subprocess
import sys
import time

from lab import config, proc, state

PR_SET_CHILD_SUBREAPER = 36
HANDLED = {signal.SIGUSR1, signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
COROSYNC_READY_TIMEOUT = 20.0
DAEMON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(msg: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} holder[{os.getpid()}]: {msg}", flush=True)


def mount(*args: str) -> None:
    proc.run(["mount", *args], timeout=10)


class Holder:
    def __init__(self, lab_dir: str, node: str):
        self.lab_dir = lab_dir
        self.node = node
        self.node_dir = config.node_dir(lab_dir, node)
        self.power_path = config.power_file(lab_dir, node)
        self.me = proc.ref_of(os.getpid())
        self.generation = 0
        self.daemons: dict[str, proc.ProcRef] = {}
        self.children: dict[int, subprocess.Popen] = {}
        lab_state = state.read_json(config.state_file(lab_dir)) or {}
        self.extra_env = lab_state.get("daemon_env") or {}
        self.role = ((lab_state.get("nodes") or {}).get(node) or {}).get("role",
                                                                         config.MEMBER)

    # -- boot -------------------------------------------------------------------------
    def boot(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        socket.sethostname(self.node)
        self.fresh_tmpfs(first=True)
        for sub, target in config.NODE_MOUNTS.items():
            # Mount points missing on this machine (no /etc/hakari before `hakari
            # install`) are made empty; what the node sees there is its own directory.
            os.makedirs(target, exist_ok=True)
            mount("--bind", os.path.join(self.node_dir, sub), target)
        self.write_power("off")
        log(f"booted {self.node}")

    def fresh_tmpfs(self, first: bool = False) -> None:
        """/run and /dev/shm as after a reboot: empty, with what Pacemaker expects."""
        if not first:
            # Lazy: a dead daemon's open files must not block the "reboot".
            proc.run(["umount", "-l", "/run"], timeout=10, check=False)
            proc.run(["umount", "-l", "/dev/shm"], timeout=10, check=False)
        mount("-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", "/run")
        mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm")
        uid = pwd.getpwnam("hacluster").pw_uid
        gid = grp.getgrnam("haclient").gr_gid
        os.mkdir("/run/crm", 0o750)
        os.chown("/run/crm", uid, gid)
        for path, mode in (("/run/lock", 0o1777), ("/run/resource-agents", 0o755),
                           ("/run/fence-agents", 0o755)):
            os.mkdir(path)
            os.chmod(path, mode)

    # -- power ------------------------------------------------------------------------
    def write_power(self, power: str, error: str | None = None) -> None:
        state.write_json(self.power_path, {
            "node": self.node,
            "power": power,
            "generation": self.generation,
            "holder": self.me.to_json(),
            "daemons": {k: v.to_json() for k, v in self.daemons.items()},
            "error": error,
            "time": time.time(),
        })

    def is_on(self) -> bool:
        return any(proc.alive(r) for r in self.daemons.values())

    def spawn(self, argv: list[str], env: dict[str, str]) -> proc.ProcRef:
        logf = open(os.path.join(self.node_dir, "daemons.log"), "ab")
        try:
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                cwd="/", preexec_fn=_unblock_signals)
        finally:
            logf.close()
        self.children[child.pid] = child
        return proc.ref_of(child.pid) or proc.ProcRef(child.pid, -1)

    def power_on(self) -> None:
        self.generation += 1
        if self.is_on():
            log("power on: already on")
            self.write_power("on")
            return
        self.daemons = {}
        self.write_power("starting")
        started = time.monotonic()
        try:
            if self.generation > 1:
                self.fresh_tmpfs()
            env = {"PATH": DAEMON_PATH, "LANG": "C.UTF-8", "HOME": "/root",
                   "PCMK_logfile": "/var/log/pacemaker/pacemaker.log", **self.extra_env}
            # The cable is plugged back in with the power (power.power_off pulled it).
            proc.run(["ip", "link", "set", config.NODE_IFNAME, "up"], timeout=10)
            if self.role == config.REMOTE:
                self.daemons["pacemaker-remoted"] = self.spawn([config.REMOTED], env)
            else:
                self.daemons["corosync"] = self.spawn(["corosync", "-f"], env)
                self.wait_corosync()
                self.daemons["pacemakerd"] = self.spawn(["pacemakerd", "-f"], env)
        except Exception as err:  # noqa: BLE001 - recorded for the controller to report
            log(f"power on failed: {err}")
            proc.kill_all(self.daemons.values())
            self.reap()
            self.write_power("error", error=str(err))
            return
        log(f"powered on in {time.monotonic() - started:.2f}s: "
            + ", ".join(f"{k}={v.pid}" for k, v in self.daemons.items()))
        self.write_power("on")

    def wait_corosync(self) -> None:
        deadline = time.monotonic() + COROSYNC_READY_TIMEOUT
        while True:
            if not proc.alive(self.daemons["corosync"]):
                raise RuntimeError("corosync exited at start (see var-log-corosync/)")
            # 0 quorate, 2 not quorate: either way corosync answers; 1 is "not yet".
            res = proc.run(["corosync-quorumtool", "-s"], timeout=5, check=False)
            if res.returncode in (0, 2):
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"corosync not ready after {COROSYNC_READY_TIMEOUT:g}s")
            time.sleep(0.05)

    def reap(self) -> None:
        changed = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            self.children.pop(pid, None)
            for name, ref in self.daemons.items():
                if ref.pid == pid:
                    log(f"{name} ({pid}) ended: {_describe(status)}")
                    changed = True
        if changed and not self.is_on():
            self.write_power("off")

    # -- main loop --------------------------------------------------------------------
    def serve(self) -> int:
        while True:
            sig = signal.sigwait(HANDLED)
            if sig == signal.SIGCHLD:
                self.reap()
            elif sig == signal.SIGUSR1:
                self.reap()
                self.power_on()
            else:
                log(f"signal {signal.Signals(sig).name}: stopping")
                self.shutdown()
                return 0

    def shutdown(self) -> None:
        """Nothing may outlive the node: kill whatever still runs in its namespace."""
        mine = proc.netns_inode(os.getpid())
        for _ in range(10):
            left = proc.processes_in_netns({mine}, exclude={os.getpid()})
            if not left:
                break
            proc.kill_all(left, timeout=2)
            self.reap()
        self.reap()
        self.write_power("off")


def _unblock_signals() -> None:
    # Children inherit the blocked mask: pacemakerd must still hear SIGTERM.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.WEXITSTATUS(status)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.holder")
    parser.add_argument("--lab-dir", required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args(argv)
    # Blocked before anything else so no request sent right after boot is lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    holder = Holder(args.lab_dir, args.node)
    try:
        holder.boot()
    except Exception as err:  # noqa: BLE001 - the controller reads power.json
        log(f"boot failed: {err}")
        holder.write_power("error", error=f"boot: {err}")
        return 1
    return holder.serve()


if __name__ == "__main__":
    sys.exit(main())
