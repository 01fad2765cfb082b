#!/usr/bin/env python3
"""Deterministic CIB documents in the shape of a real instance-HA cloud, at any size.

Three controllers are Corosync members; every other node is a compute host run as a
Pacemaker Remote node (an ``ocf:pacemaker:remote`` connection resource), with its own
power fence device, the shared fence_hakari device in its fencing topology level, and
nova-compute and compute-guard clone instances. The status section is what a settled
cluster records: each connection and power device started on one controller (spread
round robin) and probed on the others, the clones started on every compute, and a
history a few operations deep per resource, like a cluster that has run a while.

``--lost K`` marks K computes lost the way Pacemaker records it: the connection's
monitor failed on its controller. The same seed always gives the same document, so
benchmarks at different times compare the same work.

Usage: bench/cibgen.py NODES [--lost K] [--out FILE]   (checked with crm_verify by scale.py)
"""

from __future__ import annotations

import argparse
import sys
import zlib

from lxml import etree

CONTROLLERS = ("controller1", "controller2", "controller3")
# What Debian 12's Pacemaker 2.1.5 writes: its tools refuse to write to a CIB of a newer one.
FEATURE_SET = "3.16.1"
# What runs on every compute, as clones: (id, type, class, provider).
COMPUTE_CLONES = (("libvirtd", "libvirtd", "systemd", None),
                  ("neutron-ovs-agent", "neutron-openvswitch-agent", "systemd", None),
                  ("compute-guard", "compute-guard", "ocf", "hakari"),
                  ("nova-compute", "nova-compute", "systemd", None))
# A fixed clock: the documents must not change from one run to the next.
EPOCH = 1764835200


def compute_name(i: int) -> str:
    return f"compute{i}"


def _digest(text: str) -> str:
    return f"{zlib.crc32(text.encode()):08x}" * 4


class _Ops:
    """Operation history entries, with the call ids a node's executor would hand out."""

    def __init__(self):
        self.calls: dict[str, int] = {}

    def op(self, parent, rsc: str, node: str, operation: str, rc: int, interval_ms: int = 0,
           *, op_id: str | None = None, when: int = EPOCH) -> None:
        """One entry; its id is Pacemaker's: ``<rsc>_last_0`` for the last one-shot
        operation, ``<rsc>_<op>_<interval>`` for a recurring one, ``op_id`` otherwise."""
        self.calls[node] = self.calls.get(node, 0) + 1
        key = f"{rsc}_{operation}_{interval_ms}"
        magic = (f"0:{rc};{self.calls[node]}:1:0:"
                 f"00000000-0000-4000-8000-{zlib.crc32(key.encode()):012x}")
        etree.SubElement(parent, "lrm_rsc_op", {
            "id": op_id or (key if interval_ms else f"{rsc}_last_0"),
            "operation_key": key, "operation": operation,
            "crm-debug-origin": "do_update_resource", "crm_feature_set": FEATURE_SET,
            "transition-key": magic.split(";", 1)[1], "transition-magic": magic,
            "exit-reason": "" if rc in (0, 7) else "connection lost",
            "on_node": node, "call-id": str(self.calls[node]), "rc-code": str(rc),
            "op-status": "0", "interval": str(interval_ms), "last-rc-change": str(when),
            "exec-time": "12", "queue-time": "0", "op-digest": _digest(rsc + operation)})


def _nv(parent, owner: str, tag: str, values: dict[str, str]) -> None:
    block = etree.SubElement(parent, tag, id=f"{owner}-{tag.split('_')[0]}")
    for name, value in values.items():
        etree.SubElement(block, "nvpair", id=f"{owner}-{name}", name=name, value=value)


def _agent(rid: str, rtype: str, cls: str, provider: str | None) -> dict[str, str]:
    """A resource's id and agent, as primitives and operation histories name them."""
    attrs = {"id": rid, "class": cls, "type": rtype}
    if provider:
        attrs["provider"] = provider
    return attrs


def _primitive(parent, rid: str, cls: str, rtype: str, provider: str | None = None,
               params: dict | None = None, monitor: str = "60s") -> None:
    p = etree.SubElement(parent, "primitive", _agent(rid, rtype, cls, provider))
    if params:
        _nv(p, rid, "instance_attributes", params)
    ops = etree.SubElement(p, "operations")
    etree.SubElement(ops, "op", id=f"{rid}-monitor-{monitor}", name="monitor",
                     interval=monitor)


def generate(nodes: int, lost: int = 0) -> etree._Element:
    """A CIB of ``nodes`` nodes: 3 controllers and ``nodes - 3`` remote computes, the
    last ``lost`` of them lost."""
    if nodes < 4:
        raise ValueError("at least 4 nodes: 3 controllers and a compute")
    computes = [compute_name(i) for i in range(1, nodes - len(CONTROLLERS) + 1)]
    lost_set = set(computes[len(computes) - lost:]) if lost else set()
    cib = etree.Element("cib", {
        "crm_feature_set": FEATURE_SET, "validate-with": "pacemaker-3.9", "epoch": "42",
        "num_updates": "7", "admin_epoch": "0", "have-quorum": "1", "dc-uuid": "1",
        "cib-last-written": "Fri Dec  4 00:00:00 2026", "update-origin": "controller1",
        "update-client": "crmd", "update-user": "hacluster"})
    conf = etree.SubElement(cib, "configuration")
    crm = etree.SubElement(conf, "crm_config")
    _nv(crm, "cib-bootstrap-options", "cluster_property_set", {
        "have-watchdog": "false", "dc-version": "2.1.5-a3f44794f94",
        "cluster-infrastructure": "corosync", "cluster-name": "cloud",
        "stonith-enabled": "true", "stonith-action": "off",
        "cluster-recheck-interval": "60s"})
    xnodes = etree.SubElement(conf, "nodes")
    for i, name in enumerate(CONTROLLERS, 1):
        node = etree.SubElement(xnodes, "node", id=str(i), uname=name)
        _nv(node, f"nodes-{i}", "instance_attributes", {"osprole": "controller"})
    for name in computes:
        node = etree.SubElement(xnodes, "node", id=name, uname=name, type="remote")
        _nv(node, f"nodes-{name}", "instance_attributes", {"osprole": "compute"})
    rsc = etree.SubElement(conf, "resources")
    _primitive(rsc, "hakari-engine", "ocf", "evacuator", "hakari",
               {"config_file": "/etc/hakari/hakari.conf"}, "10s")
    _primitive(rsc, "fence-nova", "stonith", "fence_hakari", None,
               {"config_file": "/etc/hakari/hakari.conf", "pcmk_host_list": " ".join(computes)})
    for n, name in enumerate(computes):
        _primitive(rsc, name, "ocf", "remote", "pacemaker",
                   {"server": f"10.1.{n // 250}.{n % 250 + 2}", "reconnect_interval": "60s"},
                   "20s")
        _primitive(rsc, f"ipmi-{name}", "stonith", "fence_ipmilan", None,
                   {"ip": f"10.2.{n // 250}.{n % 250 + 2}", "username": "admin",
                    "password": "redacted", "lanplus": "1", "pcmk_host_list": name})
    for clone_id, rtype, cls, provider in COMPUTE_CLONES:
        clone = etree.SubElement(rsc, "clone", id=f"{clone_id}-clone")
        _primitive(clone, clone_id, cls, rtype, provider, None, "10s")
        _nv(clone, f"{clone_id}-clone", "meta_attributes", {"interleave": "true"})
    cons = etree.SubElement(conf, "constraints")
    for clone_id in (f"{c[0]}-clone" for c in COMPUTE_CLONES):
        loc = etree.SubElement(cons, "rsc_location", id=f"loc-{clone_id}", rsc=clone_id)
        rule = etree.SubElement(loc, "rule", id=f"loc-{clone_id}-rule", score="-INFINITY")
        etree.SubElement(rule, "expression", id=f"loc-{clone_id}-expr", attribute="osprole",
                         operation="ne", value="compute")
    etree.SubElement(cons, "rsc_order", id="guard-before-nova", first="compute-guard-clone",
                     then="nova-compute-clone", kind="Mandatory")
    loc = etree.SubElement(cons, "rsc_location", id="loc-engine", rsc="hakari-engine")
    rule = etree.SubElement(loc, "rule", id="loc-engine-rule", score="-INFINITY")
    etree.SubElement(rule, "expression", id="loc-engine-expr", attribute="osprole",
                     operation="ne", value="controller")
    for name in computes:
        etree.SubElement(cons, "rsc_location", id=f"loc-ipmi-{name}", rsc=f"ipmi-{name}",
                         node=name, score="-INFINITY")
    topo = etree.SubElement(conf, "fencing-topology")
    for name in computes:
        etree.SubElement(topo, "fencing-level", id=f"fl-{name}-1", target=name, index="1",
                         devices=f"ipmi-{name},fence-nova")
    status = etree.SubElement(cib, "status")
    ops = _Ops()
    lrms = {}
    for i, name in enumerate(CONTROLLERS, 1):
        state = etree.SubElement(status, "node_state", {
            "id": str(i), "uname": name, "in_ccm": "true", "crmd": "online",
            "crm-debug-origin": "do_update_resource", "join": "member",
            "expected": "member"})
        _nv(etree.SubElement(state, "transient_attributes", id=str(i)), f"status-{i}",
            "instance_attributes", {"last-failure-hakari-engine#monitor_10000": "0"}
            if i == 2 else {"hakari-spool": "ok"})
        lrms[name] = etree.SubElement(etree.SubElement(state, "lrm", id=str(i)),
                                      "lrm_resources")

    def placed(rid: str, rtype: str, cls: str, provider: str | None, owner: str,
               monitor_ms: int, failed: bool = False) -> None:
        for ctl in CONTROLLERS:
            entry = etree.SubElement(lrms[ctl], "lrm_resource",
                                     _agent(rid, rtype, cls, provider))
            if ctl != owner:
                ops.op(entry, rid, ctl, "monitor", 7)     # the probe: not running here
                continue
            ops.op(entry, rid, ctl, "start", 0)
            if failed:
                # The connection's monitor failed an hour later: the compute is lost.
                ops.op(entry, rid, ctl, "monitor", 1, monitor_ms, when=EPOCH + 3600,
                       op_id=f"{rid}_last_failure_0")
            ops.op(entry, rid, ctl, "monitor", 1 if failed else 0, monitor_ms,
                   when=EPOCH + 3600 if failed else EPOCH)

    placed("hakari-engine", "evacuator", "ocf", "hakari", CONTROLLERS[0], 10000)
    placed("fence-nova", "fence_hakari", "stonith", None, CONTROLLERS[1], 60000)
    for n, name in enumerate(computes):
        owner = CONTROLLERS[n % len(CONTROLLERS)]
        placed(name, "remote", "ocf", "pacemaker", owner, 20000, failed=name in lost_set)
        placed(f"ipmi-{name}", "fence_ipmilan", "stonith", None,
               CONTROLLERS[(n + 1) % len(CONTROLLERS)], 60000)
    for name in computes:
        state = etree.SubElement(status, "node_state", {
            "id": name, "uname": name, "remote_node": "true",
            "crm-debug-origin": "do_update_resource"})
        _nv(etree.SubElement(state, "transient_attributes", id=name), f"status-{name}",
            "instance_attributes", {"hakari-spool": "ok"})
        lrm = etree.SubElement(etree.SubElement(state, "lrm", id=name), "lrm_resources")
        for rid, rtype, cls, provider in COMPUTE_CLONES:
            entry = etree.SubElement(lrm, "lrm_resource", _agent(rid, rtype, cls, provider))
            ops.op(entry, rid, name, "start", 0)
            ops.op(entry, rid, name, "monitor", 0, 10000)
    return cib


def to_bytes(cib: etree._Element) -> bytes:
    return etree.tostring(cib, xml_declaration=False, encoding="utf-8", pretty_print=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("nodes", type=int, help="nodes in all: 3 controllers + computes")
    parser.add_argument("--lost", type=int, default=0, help="computes whose connection failed")
    parser.add_argument("--out", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    data = to_bytes(generate(args.nodes, args.lost))
    if args.out:
        with open(args.out, "wb") as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
