"""bench/cibgen.py: the large CIBs the scale benchmark measures must be what Pacemaker
would keep for a real remote-compute cloud, and the same every time."""

from __future__ import annotations

import os
import subprocess

from bench import cibgen
from hakari.cluster.crm_mon import parse_crm_mon
from tests.conftest import require_tools


def test_the_same_size_gives_the_same_document():
    assert cibgen.to_bytes(cibgen.generate(20, 3)) == cibgen.to_bytes(cibgen.generate(20, 3))
    assert cibgen.to_bytes(cibgen.generate(20, 3)) != cibgen.to_bytes(cibgen.generate(20, 2))


def test_shape_three_members_and_remote_computes_each_fenced_power_then_nova():
    cib = cibgen.generate(40, 0)
    nodes = cib.findall("configuration/nodes/node")
    assert [n.get("uname") for n in nodes if n.get("type") != "remote"] == \
        list(cibgen.CONTROLLERS)
    remotes = [n.get("uname") for n in nodes if n.get("type") == "remote"]
    assert len(remotes) == 37
    connections = cib.xpath("//primitive[@type='remote' and @provider='pacemaker']/@id")
    assert sorted(connections) == sorted(remotes)
    levels = {lv.get("target"): lv.get("devices") for lv in cib.iter("fencing-level")}
    assert levels == {r: f"ipmi-{r},fence-nova" for r in remotes}


def test_pacemaker_accepts_it_and_sees_exactly_the_lost_computes_unclean(tmp_path):
    require_tools("crm_verify", "crm_mon")
    healthy, lost = tmp_path / "healthy.xml", tmp_path / "lost.xml"
    healthy.write_bytes(cibgen.to_bytes(cibgen.generate(16)))
    lost.write_bytes(cibgen.to_bytes(cibgen.generate(16, 2)))
    verify = subprocess.run(["crm_verify", "-x", str(healthy)], capture_output=True,
                            text=True, timeout=60)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    out = subprocess.run(["crm_mon", "-1", "--output-as=xml"], capture_output=True,
                         timeout=60, env={**os.environ, "CIB_file": str(lost)}, check=True)
    snapshot = parse_crm_mon(out.stdout)
    by_name = {n.name: n for n in snapshot.nodes}
    assert len(by_name) == 16 and snapshot.quorate is True
    assert sorted(n for n, s in by_name.items() if s.unclean) == ["compute12", "compute13"]
    assert all(s.online for n, s in by_name.items() if n not in ("compute12", "compute13"))
    assert {s.type for n, s in by_name.items() if n.startswith("compute")} == {"remote"}
