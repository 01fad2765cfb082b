"""masakari-monitors' notifier in a venv of its own (.venv-monitors, `make .venv-monitors`).

Stdlib only: hakari's tests import this and run notify.py under that venv's Python.

    why = available()                       # None when the venv is ready
    write_config(path, auth_url=..., password=...)
    send(path, "process", "compute1", "nova-compute")
    send(path, "vm", "compute1", instance_uuid)
"""

from __future__ import annotations

import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-monitors"
NOTIFY = pathlib.Path(__file__).resolve().with_name("notify.py")
STAMP_NAME = ".installed"


def venv_python() -> pathlib.Path:
    return VENV / "bin" / "python"


def available() -> str | None:
    """None when the venv is ready, else why not (for skip/fail messages)."""
    if not venv_python().exists():
        return f"{VENV} is missing (make .venv-monitors creates it)"
    if not (VENV / STAMP_NAME).exists():
        return f"{VENV} is incomplete (no {STAMP_NAME}; make .venv-monitors finishes it)"
    return None


def write_config(path: os.PathLike | str, *, auth_url: str, password: str,
                 username: str = "admin", project: str = "admin",
                 interface: str = "public", region: str = "RegionOne") -> None:
    """masakarimonitors.conf: the notifier's [api] (Keystone credentials; the API is found
    in the catalog), no retries, the log on stderr."""
    pathlib.Path(path).write_text(
        "[DEFAULT]\nuse_stderr = true\n"
        f"[api]\nregion = {region}\napi_interface = {interface}\nauth_type = password\n"
        f"auth_url = {auth_url}\nusername = {username}\npassword = {password}\n"
        f"project_name = {project}\nuser_domain_name = Default\n"
        "project_domain_name = Default\n"
        "[process]\napi_retry_max = 0\napi_retry_interval = 0\n"
        "[callback]\nretry_max = 0\nretry_interval = 0\n")


def send(config: os.PathLike | str, *args: str,
         timeout: float = 120.0) -> subprocess.CompletedProcess:
    """notify.py --config-file config args... (see its docstring)."""
    return subprocess.run([str(venv_python()), str(NOTIFY), "--config-file", str(config),
                           *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={"PATH": os.environ.get("PATH", "")})
