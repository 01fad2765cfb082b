"""CIBs with nova-compute failures, made by the real Pacemaker tools offline (CIB_file).

The cloud is bench/cibgen.py's (3 controllers, the rest remote computes running a
nova-compute clone); crm_simulate injects operation results into it exactly as it
records them (the history entry, the fail count and last-failure), crm_attribute and
cibadmin clean them up. No daemons are started.
"""

from __future__ import annotations

import pathlib

from lxml import etree

from bench import cibgen
from tests.conftest import require_tools
from tests.integration.test_crm_mon_offline import simulate, tool

RSC = "nova-compute"
TOOLS = ("crm_simulate", "crm_mon", "cibadmin", "crm_attribute", "crm_resource",
         "crm_failcount")


def cloud(path: pathlib.Path, nodes: int = 5) -> pathlib.Path:
    """cibgen's cloud of ``nodes`` nodes at the installed Pacemaker's feature set:
    crm_simulate refuses to update a CIB written by a newer one."""
    require_tools(*TOOLS)
    ours = etree.fromstring(tool(["cibadmin", "--empty"]).stdout).get("crm_feature_set")
    root = cibgen.generate(nodes)
    for el in root.iter():
        if el.get("crm_feature_set"):
            el.set("crm_feature_set", ours)
    path.write_bytes(cibgen.to_bytes(root))
    return path


def fail(src: pathlib.Path, dst: pathlib.Path, *ops: str) -> pathlib.Path:
    """``src`` with each ``<rsc>_<task>_<interval>@<node>=<rc>`` result recorded."""
    return simulate(src, dst, *[arg for op in ops for arg in ("--op-inject", op)])


def edit(path: pathlib.Path, change) -> pathlib.Path:
    """Rewrite the file with ``change(root)`` applied (for what no tool sets)."""
    root = etree.parse(str(path)).getroot()
    change(root)
    path.write_bytes(etree.tostring(root))
    return path


def age(path: pathlib.Path, node: str, seconds: int) -> pathlib.Path:
    """Move the failures recorded on ``node`` ``seconds`` into the past: their history
    entries and their last-failure attributes."""
    def change(root):
        state = root.find(f"status/node_state[@uname='{node}']")
        for op in state.iterfind("lrm/lrm_resources/lrm_resource/lrm_rsc_op"):
            if op.get("rc-code") not in ("0", None) or op.get("op-status") != "0":
                op.set("last-rc-change", str(int(op.get("last-rc-change")) - seconds))
        for nv in state.iterfind("transient_attributes/instance_attributes/nvpair"):
            if nv.get("name").startswith("last-failure-"):
                nv.set("value", str(int(nv.get("value")) - seconds))
    return edit(path, change)


def clean_up(path: pathlib.Path, node: str, op: str, *, history: bool = True,
             counts: bool = True) -> pathlib.Path:
    """What `crm_resource --cleanup` does to ``op`` (``<task>_<interval>``) of RSC on
    ``node`` (it cannot run offline): the fail count and last-failure go, and so does
    the failure's history entry."""
    if counts:
        for name in (f"fail-count-{RSC}#{op}", f"last-failure-{RSC}#{op}"):
            tool(["crm_attribute", "--node", node, "--lifetime", "reboot", "--name", name,
                  "--delete"], path)
    if history:
        tool(["cibadmin", "--delete", "--xpath", f"//node_state[@uname='{node}']//"
              f"lrm_rsc_op[@id='{RSC}_last_failure_0']"], path)
    return path
