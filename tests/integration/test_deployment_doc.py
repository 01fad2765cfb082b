"""docs/deployment.md: its pcs and cibadmin commands, run against an offline CIB, build
exactly the configuration `hakari render` renders for the same cluster."""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import subprocess

import pytest

from hakari.cluster_config import render, schema
from tests.cib_semantics import semantics
from tests.conftest import require_tools

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deployment.md"

# The doc's example cluster as a variables file.
VARS = {
    "cluster_name": "example", "cloud": "overcloud",
    "controllers": [
        {"name": f"ctl{i}", "nodeid": i, "addresses": [f"192.0.2.{10 + i}"],
         "fence": {"agent": "fence_ipmilan", "params": {
             "ip": f"203.0.113.{10 + i}", "username": "hakari", "lanplus": 1,
             "password_script": f"/usr/local/sbin/bmc-password ctl{i}"}}}
        for i in (1, 2, 3)],
    # Pacemaker Remote computes, as the doc deploys them first.
    "computes": [
        {"name": f"cmp{i}", "remote": True, "addresses": [f"192.0.2.{20 + i}"],
         "fence": {"agent": "fence_ipmilan", "params": {
             "ip": f"203.0.113.{20 + i}", "username": "hakari", "lanplus": 1,
             "password_script": f"/usr/local/sbin/bmc-password cmp{i}"}}}
        for i in (1, 2)],
}


def doc_commands() -> list[list[str]]:
    """Every pcs/cibadmin command in the doc's bash blocks, as argv."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            if argv and argv[0] in ("pcs", "cibadmin"):
                commands.append(argv)
    return commands


@pytest.mark.slow
def test_the_documented_commands_build_what_hakari_renders(tmp_path):
    require_tools("pcs", "cibadmin")
    errors, _ = schema.validate(VARS)
    assert errors == []
    rendered = render.render_all(VARS)["cib.xml"].encode()
    cib = tmp_path / "cib.xml"
    cib.write_bytes(subprocess.run(["cibadmin", "--empty"], capture_output=True,
                                   check=True, timeout=60).stdout)
    env = {**os.environ, "CIB_file": str(cib)}
    commands = doc_commands()
    assert len(commands) > 20
    for argv in commands:
        if argv[0] == "pcs":
            # Offline, pcs cannot see the nodes or this host's agents: --force, as the
            # rendered pcs-commands.sh does for a CIB file.
            argv = ["pcs", "-f", str(cib), "--force", *argv[1:]]
        res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 0, f"{shlex.join(argv)}: {res.stderr}"
    assert semantics(cib.read_bytes()) == semantics(rendered)
