"""The seed CIB, written into every node before its first start.

Why seed at all: with an empty CIB Pacemaker waits the default dc-deadtime (20 s) before
electing a DC, and fencing is only configured after start. A seeded CIB brings a lab up in
seconds with STONITH already working.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET

from lab import config
from lab.proc import run

TOOL_TIMEOUT = 20.0

DEFAULT_OPTIONS = {
    "dc-deadtime": "2s",
    "stonith-enabled": "true",
    "cluster-recheck-interval": "1min",
}

# Where an extra element goes, by tag. Anything else is refused rather than guessed.
_SECTIONS = {
    "primitive": "resources", "group": "resources", "clone": "resources",
    "master": "resources", "bundle": "resources", "template": "resources",
    "rsc_location": "constraints", "rsc_colocation": "constraints",
    "rsc_order": "constraints", "rsc_ticket": "constraints",
    "alert": "alerts",
    "fencing-topology": None, "rsc_defaults": None, "op_defaults": None, "tags": None,
}


def fence_device_xml(lab_path: str, host_list: list[str]) -> str:
    dev = config.FENCE_DEVICE_ID
    return (
        f'<primitive id="{dev}" class="stonith" type="{config.FENCE_AGENT}">'
        f'<instance_attributes id="{dev}-ia">'
        f'<nvpair id="{dev}-hosts" name="pcmk_host_list" value="{" ".join(host_list)}"/>'
        f'<nvpair id="{dev}-lab-dir" name="lab_dir" value="{lab_path}"/>'
        "</instance_attributes>"
        f'<operations><op id="{dev}-monitor" name="monitor" interval="60s"/></operations>'
        "</primitive>")


# How fast a silent compute is noticed: the controller pokes the connection every
# REMOTE_MONITOR and gives up after REMOTE_TIMEOUT. reconnect_interval keeps a lost
# connection "reconnecting" after its node is fenced, instead of a failed start that
# would ban it from every controller, so a compute that boots again rejoins by itself.
REMOTE_MONITOR = "3s"
REMOTE_TIMEOUT = "6s"
REMOTE_RECONNECT = "5s"


def remote_xml(node: str, address: str) -> str:
    """The connection resource of a Pacemaker Remote node, as `pcs cluster node
    add-remote` makes it: the resource id is the node's name."""
    return (
        f'<primitive id="{node}" class="ocf" provider="pacemaker" type="remote">'
        f'<instance_attributes id="{node}-ia">'
        f'<nvpair id="{node}-server" name="server" value="{address}"/>'
        f'<nvpair id="{node}-port" name="port" value="{config.REMOTE_PORT}"/>'
        f'<nvpair id="{node}-reconnect" name="reconnect_interval" value="{REMOTE_RECONNECT}"/>'
        "</instance_attributes>"
        f'<operations><op id="{node}-monitor" name="monitor" interval="{REMOTE_MONITOR}" '
        f'timeout="{REMOTE_TIMEOUT}"/></operations></primitive>')


def build(lab_path: str, host_list: list[str], options: dict[str, str] | None = None,
          extra_xml: list[str] = ()) -> bytes:
    """The seed CIB as bytes. extra_xml: elements (primitive, alert, rsc_location…) placed
    in their section by tag; options: extra cluster properties (override the defaults)."""
    skeleton = run(["cibadmin", "--empty"], timeout=TOOL_TIMEOUT).stdout
    cib = ET.fromstring(skeleton)
    conf = cib.find("configuration")
    props = ET.SubElement(conf.find("crm_config"), "cluster_property_set",
                          id="cib-bootstrap-options")
    for name, value in {**DEFAULT_OPTIONS, **(options or {})}.items():
        ET.SubElement(props, "nvpair", id=f"cib-bootstrap-options-{name}", name=name,
                      value=str(value))
    for text in [fence_device_xml(lab_path, host_list), *extra_xml]:
        _place(conf, ET.fromstring(text))
    return ET.tostring(cib)


def _place(conf: ET.Element, elem: ET.Element) -> None:
    if elem.tag not in _SECTIONS:
        raise ValueError(f"seed CIB: don't know where a <{elem.tag}> goes")
    section = _SECTIONS[elem.tag]
    if section is None:
        old = conf.find(elem.tag)
        if old is not None:
            conf.remove(old)
        conf.append(elem)
        return
    parent = conf.find(section)
    if parent is None:
        parent = ET.SubElement(conf, section)
    parent.append(elem)


def verify(data: bytes) -> None:
    """Refuse a CIB Pacemaker would refuse, before any daemon sees it."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(data)
        f.flush()
        run(["crm_verify", "--xml-file", f.name], timeout=TOOL_TIMEOUT)


def install(var_lib_pacemaker: str, data: bytes, uid: int, gid: int) -> None:
    """Write data as the node's cib.xml (no .sig: Pacemaker accepts an unsigned seed)."""
    for sub in ("cib", "pengine", "blackbox", "cores"):
        path = os.path.join(var_lib_pacemaker, sub)
        os.makedirs(path, exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, 0o750)
    path = os.path.join(var_lib_pacemaker, "cib", "cib.xml")
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, uid, gid)
    os.chmod(path, 0o600)
