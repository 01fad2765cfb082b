"""Run the fake in a child process, and drive it over its control API.

``FakeNovaProcess`` and ``RemoteControl`` expose the same Python API as FakeNova (method
names and arguments), with JSON values only: request records come back as dicts and
``add_fault(match=...)`` is not available.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]


class RemoteError(RuntimeError):
    pass


class RemoteControl:
    """Calls FakeNova methods in another process through ``POST /_fake/call``."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, *args, **kwargs):
        data = json.dumps({"method": method, "args": list(args), "kwargs": kwargs}).encode()
        req = urllib.request.Request(f"{self.url}/_fake/call", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        # A wait_idle(timeout=T) call must not be cut short by our own socket timeout.
        timeout = self.timeout + float(kwargs.get("timeout", 0) or 0)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())["result"]
        except urllib.error.HTTPError as err:
            raise RemoteError(json.loads(err.read() or b"{}").get("error", str(err))) from None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a, **kw: self.call(name, *a, **kw)


class FakeNovaProcess:
    """``python -m lab.fakenova`` as a child; ``stop()`` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, *, port: int = 0, seed: int = 0, args: list[str] | None = None,
                 ready_timeout: float = 15.0, workdir: str | None = None):
        self.port, self.seed = port, seed
        self.extra = list(args or [])
        self.ready_timeout = ready_timeout
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="fakenova-")
        self.workdir = pathlib.Path(workdir or self._tmp.name)
        self.ready_file = self.workdir / "ready.json"
        self.log_file = self.workdir / "fakenova.log"
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self.control: RemoteControl | None = None

    def start(self) -> "FakeNovaProcess":
        self.ready_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "lab.fakenova", "--port", str(self.port),
               "--seed", str(self.seed), "--ready-file", str(self.ready_file),
               "--parent-pid", str(os.getpid()), *self.extra]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                self.info = json.loads(self.ready_file.read_text())
                self.control = RemoteControl(self.info["url"])
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"fakenova did not become ready: {self.log_file.read_text()[-2000:]}")

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc, self.proc = self.proc.returncode, None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def auth_url(self) -> str:
        return self.info["auth_url"]

    def connect(self, microversion: str | None = None, **kwargs):
        from lab.fakenova import sdk
        return sdk.connect(self.info, microversion=microversion, **kwargs)

    def __getattr__(self, name):
        # Everything else is the remote FakeNova API.
        if name.startswith("_") or name in ("proc", "control", "info"):
            raise AttributeError(name)
        if self.control is None:
            raise RuntimeError("not started")
        return getattr(self.control, name)
