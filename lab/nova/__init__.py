"""The Nova lab, host side: start and drive a real Nova 34 (fake virt driver) in one process
and its real Keystone 30 in another (lab/nova/keystone_process.py, the server's child).

Stdlib only and never imports nova: it runs in hakari's own venv (tests, `make demo`) and
launches lab/nova/server.py under .venv-nova's Python, which is where Nova lives.

    lab = start(run_dir)                       # ~2-5 s; a NovaLab handle
    lab.auth_url, lab.clouds_yaml, lab.cloud   # for openstacksdk / hakari
    lab.control.stop_compute("node2")          # "power off" the compute: no heartbeat, no RPC
    lab.control.start_compute("node2")         # service restart, hypervisor state kept
    lab.control.crash_server(server_id)        # its guest stops behind Nova's back
    lab.stop()                                 # always, by PID, with a timeout

The server's control API listens on a Unix socket in the run directory, so it works the same
whether the API itself listens on loopback or only inside a network namespace.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Iterable, Sequence

REPO = pathlib.Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-nova"
SERVER = pathlib.Path(__file__).resolve().with_name("server.py")
REQUIREMENTS = pathlib.Path(__file__).resolve().with_name("requirements.txt")
STAMP_NAME = ".installed"
DEFAULT_HOSTS = ("node1", "node2", "node3")
DEFAULT_CLOUD = "hakari-lab"


class NovaLabError(RuntimeError):
    """The lab could not start, or a control request failed."""


def venv_python(venv: os.PathLike | str | None = None) -> pathlib.Path:
    return pathlib.Path(venv or VENV) / "bin" / "python"


def available(venv: os.PathLike | str | None = None) -> str | None:
    """None when the Nova venv is ready, else why not (for skip/fail messages)."""
    venv = pathlib.Path(venv or VENV)
    if not venv_python(venv).exists():
        return f"{venv} is missing (make .venv-nova creates it)"
    if not (venv / STAMP_NAME).exists():
        return f"{venv} is incomplete (no {STAMP_NAME}; make .venv-nova finishes it)"
    return None


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class ControlClient:
    """JSON over HTTP over the lab's Unix control socket."""

    def __init__(self, socket_path: str, timeout: float = 120.0):
        self.socket_path = socket_path
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        conn = _UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except OSError as e:
            raise NovaLabError(f"control {method} {path}: {e}") from e
        finally:
            conn.close()
        result = json.loads(raw) if raw.strip() else None
        if resp.status >= 400:
            err = result.get("error") if isinstance(result, dict) else raw[:500]
            raise NovaLabError(f"control {method} {path}: HTTP {resp.status}: {err}")
        return result

    def status(self) -> dict:
        return self._request("GET", "/v1/status")

    def hosts(self) -> list[dict]:
        """[{host, running, up, disabled, forced_down, instances, hypervisor_instances}]"""
        return self._request("GET", "/v1/hosts")["hosts"]

    def host(self, host: str) -> dict:
        for h in self.hosts():
            if h["host"] == host:
                return h
        raise NovaLabError(f"no compute host {host}")

    def stop_compute(self, host: str) -> dict:
        """Stop nova-compute on host in-process: no more heartbeats, no RPC consumer."""
        return self._request("POST", f"/v1/hosts/{host}/stop", {})

    def start_compute(self, host: str, rebooted: bool = False) -> dict:
        """Start it again as a new service. rebooted=True: the hypervisor comes back empty
        (a power cycle); otherwise the instances it had are still there (a service restart)."""
        return self._request("POST", f"/v1/hosts/{host}/start", {"rebooted": rebooted})

    def crash_server(self, server_id: str, sync: bool = True) -> str:
        """The fake hypervisor reports the server shut down, as if its guest crashed.
        sync=True: its compute's power-state sync runs at once (Nova stops the instance
        itself, as nova-compute's periodic task would within sync_power_state_interval).
        Returns the server's host."""
        return self._request("POST", f"/v1/servers/{server_id}/crash", {"sync": sync})["host"]

    def run_periodics(self) -> None:
        """Run update_available_resource on every running compute now."""
        self._request("POST", "/v1/periodics", {})

    def boot_servers(self, host: str, project: str = "demo", count: int = 1,
                     name: str | None = None, stopped: bool = False,
                     flavor: str | None = None,
                     metadata: dict[str, str] | None = None) -> list[dict]:
        """Boot count servers on host in project (admin/demo/alt), wait until ACTIVE (or
        SHUTOFF with stopped=True). Returns [{id, name, status, host, project, project_id}]."""
        body: dict[str, Any] = {"host": host, "project": project, "count": count,
                                "stopped": stopped}
        if name:
            body["name"] = name
        if flavor:
            body["flavor"] = flavor
        if metadata:
            body["metadata"] = metadata
        return self._request("POST", "/v1/servers", body)["servers"]


class NovaLab:
    """A running Nova lab server. Use stop() (or a with-block); it is idempotent."""

    def __init__(self, proc: subprocess.Popen, run_dir: pathlib.Path, ready: dict,
                 log_path: pathlib.Path, own_run_dir: bool):
        self._proc = proc
        self.run_dir = run_dir
        self.ready = ready
        self.log_path = log_path
        self._own_run_dir = own_run_dir
        self.pid: int = proc.pid
        self.auth_url: str = ready["auth_url"]
        self.base_url: str = ready["base_url"]
        self.compute_url: str = ready["compute_url"]
        self.placement_url: str = ready["placement_url"]
        self.clouds_yaml: str | None = ready.get("clouds_yaml")
        self.netns_clouds_yaml: str | None = ready.get("netns_clouds_yaml")
        self.cloud: str = ready["cloud"]
        self.password: str = ready["password"]
        self.hosts: list[str] = list(ready["hosts"])
        self.projects: dict[str, str] = dict(ready["projects"])
        self.image_id: str = ready["image_id"]
        self.flavor_id: str = ready["flavor_id"]
        self.startup_seconds: float = ready["startup_seconds"]
        self.control = ControlClient(ready["control_socket"])

    def cloud_name(self, project: str = "admin") -> str:
        """clouds.yaml entry: admin (admin user), demo or alt (member users)."""
        return self.cloud if project == "admin" else f"{self.cloud}-{project}"

    def alive(self) -> bool:
        return self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def stop(self, timeout: float = 15.0) -> None:
        _terminate(self._proc, timeout)
        shutil.rmtree(self.run_dir / "tmp", ignore_errors=True)
        for name in ("ready.json", "control.sock", "server.pid"):
            try:
                (self.run_dir / name).unlink()
            except FileNotFoundError:
                pass
        if self._own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> "NovaLab":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _tail(path: pathlib.Path, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


def _terminate(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _is_lab_server(pid: int) -> bool:
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg.endswith(b"lab/nova/server.py") for arg in cmdline)


def cleanup_stale(run_dir: os.PathLike | str, timeout: float = 10.0) -> bool:
    """Stop a server left behind in run_dir by a killed session (by its PID file, and only
    if that PID still runs our server). True when one was stopped."""
    pid_file = pathlib.Path(run_dir) / "server.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    stopped = False
    if pid != os.getpid() and _is_lab_server(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_lab_server(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_lab_server(pid):
            os.kill(pid, signal.SIGKILL)
        stopped = True
    pid_file.unlink(missing_ok=True)
    return stopped


def down(run_dir: os.PathLike | str, timeout: float = 10.0) -> bool:
    """Stop the lab server of run_dir (if any) and remove its state, keeping server.log.
    True when a server was running."""
    run_dir = pathlib.Path(run_dir)
    stopped = cleanup_stale(run_dir, timeout)
    shutil.rmtree(run_dir / "tmp", ignore_errors=True)
    for name in ("ready.json", "control.sock", "clouds.yaml", "clouds-netns.yaml"):
        (run_dir / name).unlink(missing_ok=True)
    return stopped


def start(run_dir: os.PathLike | str | None = None, *,
          hosts: Sequence[str] = DEFAULT_HOSTS,
          listen: Iterable[str] | None = ("127.0.0.1",),
          netns: str | None = None,
          netns_listen: Iterable[str] = (),
          port: int = 0,
          cloud: str = DEFAULT_CLOUD,
          periodic_interval: int = 10,
          report_interval: int = 10,
          service_down_time: int = 60,
          log_level: str = "INFO",
          venv: os.PathLike | str | None = None,
          exit_with_parent: bool = True,
          timeout: float = 90.0) -> NovaLab:
    """Start the Nova lab server and wait until it is ready.

    run_dir: where ready.json, clouds.yaml, control.sock, server.log go (a new temporary
    directory, removed by stop(), when None). listen: loopback addresses in this namespace;
    netns/netns_listen: private addresses inside an existing named namespace (root only).
    exit_with_parent: the server exits by itself if this process dies.
    """
    why = available(venv)
    if why:
        raise NovaLabError(why)
    own = run_dir is None
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="hakari-nova-") if own else run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cleanup_stale(run_dir)
    ready_path = run_dir / "ready.json"
    ready_path.unlink(missing_ok=True)
    log_path = run_dir / "server.log"

    argv = [str(venv_python(venv)), str(SERVER), "--run-dir", str(run_dir),
            "--hosts", ",".join(hosts), "--port", str(port), "--cloud", cloud,
            "--periodic-interval", str(periodic_interval),
            "--report-interval", str(report_interval),
            "--service-down-time", str(service_down_time), "--log-level", log_level]
    for addr in listen or ():
        argv += ["--listen", addr]
    if netns:
        argv += ["--netns", netns]
    for addr in netns_listen:
        argv += ["--netns-listen", addr]
    if exit_with_parent:
        argv += ["--parent-pid", str(os.getpid())]

    t0 = time.monotonic()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                cwd=str(REPO), start_new_session=True)
    try:
        ready = _wait_ready(proc, ready_path, log_path, time.monotonic() + timeout)
    except BaseException:
        _terminate(proc, 10)
        if own:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    ready["spawn_seconds"] = round(time.monotonic() - t0, 2)
    return NovaLab(proc, run_dir, ready, log_path, own)


def _wait_ready(proc: subprocess.Popen, ready_path: pathlib.Path, log_path: pathlib.Path,
                deadline: float) -> dict:
    while True:
        if proc.poll() is not None:
            raise NovaLabError(f"nova lab server exited with {proc.returncode} before it was "
                               f"ready; log tail:\n{_tail(log_path, 40)}")
        try:
            ready = json.loads(ready_path.read_text())
            if ready.get("pid") == proc.pid:
                return ready
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise NovaLabError(f"nova lab server not ready in time; log tail:\n"
                               f"{_tail(log_path, 40)}")
        time.sleep(0.1)
