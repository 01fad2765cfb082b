"""Render the cluster templates exactly as Ansible's ``template`` module would.

The Ansible role renders the same files; the tests require byte-identical output, so the
Jinja2 environment below copies the template module's settings: trim_blocks on,
lstrip_blocks off, undefined variables are errors, and trailing newlines are handled as
Ansible does (Jinja drops the template's last newline, Ansible adds back what is missing).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shlex
import tempfile

import jinja2

from hakari import config
from hakari.cluster.xml import parse_xml
from hakari.errors import ConfigError, ParseError

TEMPLATES_DIR = pathlib.Path(__file__).resolve().parent.parent / "templates"
OUTPUTS = ("corosync.conf", "cib.xml", "pcs-commands.sh", "hakari.conf",
           "keystone-commands.sh", "api.conf")
# Rendered only with the api enabled.
API_CONF = "api.conf"
# Fence device parameters end up in these two; with inline secrets they are private.
SECRET_BEARING = frozenset({"cib.xml", "pcs-commands.sh"})
# hakari api's database URL and Keystone credentials end up in api.conf alone, never in
# hakari.conf, which every node's haclient group reads (the alert agent).
ALWAYS_PRIVATE = frozenset({API_CONF})
PUBLIC_MODE = 0o644
SECRET_MODE = 0o600


def shell_quote(value) -> str:
    """Ansible's ``quote`` filter (ansible.builtin.quote), reimplemented to match it."""
    return shlex.quote("" if value is None else str(value))


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        trim_blocks=True,
        lstrip_blocks=False,
        keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["quote"] = shell_quote
    return env


def _trailing_newlines(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


def api_enabled(data: dict) -> bool:
    return isinstance(data.get("api"), dict) and data["api"].get("enabled") is True


def outputs(data: dict) -> tuple[str, ...]:
    """The files these variables render: OUTPUTS, api.conf only with the api enabled."""
    return tuple(name for name in OUTPUTS if name != API_CONF or api_enabled(data))


def render_all(data: dict) -> dict[str, str]:
    """Every output file's text, keyed by file name. ``data`` must have been validated."""
    env = environment()
    out = {}
    for name in outputs(data):
        source = (TEMPLATES_DIR / f"{name}.j2").read_text(encoding="utf-8")
        text = env.from_string(source).render(cluster=data)
        missing = _trailing_newlines(source) - _trailing_newlines(text)
        out[name] = text + "\n" * max(missing, 0)
    return out


def file_modes(data: dict) -> dict[str, int]:
    """api.conf is always private; inline secrets (an explicit opt-in) make the
    fence-bearing files private too.

    Kept this simple on purpose: the Ansible role applies the same rule in one line.
    """
    private = ALWAYS_PRIVATE
    if data.get("allow_inline_secrets") is True:
        private |= SECRET_BEARING
    return {name: SECRET_MODE if name in private else PUBLIC_MODE
            for name in outputs(data)}


def check_rendered(files: dict[str, str]) -> list[str]:
    """Problems only visible in the output: the XML must parse, hakari.conf must load
    alone (as the engine and the agents read it) and with api.conf after it (as
    `hakari api` does)."""
    errors = []
    try:
        parse_xml(files["cib.xml"].encode(), "rendered cib.xml", ("cib",))
    except ParseError as err:
        errors.append(str(err))
    with tempfile.TemporaryDirectory(prefix="hakari-render-") as tmp:
        conf_files = []
        for name in ("hakari.conf", API_CONF):
            if name in files:
                conf_files.append(os.path.join(tmp, name))
                with open(conf_files[-1], "w", encoding="utf-8") as f:
                    f.write(files[name])
        for group in [conf_files[:1]] + ([conf_files] if len(conf_files) > 1 else []):
            try:
                config.load(group)
            except ConfigError as err:
                # Name the variable, not the temporary files the operator never sees.
                msg = re.sub(rf"^config file {re.escape(tmp)}/[^:]*: ", "", str(err))
                errors.append(f"policies: {msg}")
                break
    return errors


def write_files(output_dir: str, files: dict[str, str], modes: dict[str, int]) -> None:
    """Write each file through a temporary file and rename, so no reader sees half a file.

    Everything is written to temporary files first; only when all succeeded are they
    renamed into place, so a failure (disk full) leaves the previous set untouched. An
    output not in ``files`` is removed: an api.conf rendered before the api was disabled
    would keep credentials nobody uses.
    """
    os.makedirs(output_dir, mode=0o755, exist_ok=True)
    pending: list[tuple[str, str]] = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=output_dir)
            pending.append((tmp, os.path.join(output_dir, name)))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), modes[name])
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        for tmp, final in pending:
            os.replace(tmp, final)
        pending = []
        for name in set(OUTPUTS) - set(files):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(output_dir, name))
        dir_fd = os.open(output_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        for tmp, _ in pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
