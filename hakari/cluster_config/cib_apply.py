"""Bring the live CIB in line with a rendered cib.xml, touching only hakari's objects.

A cluster that runs hakari usually runs other things too (the OpenStack control plane),
so replacing whole CIB sections would destroy them. Instead:

- cluster properties: hakari's nvpairs are set, other properties are left alone;
- resources, constraints, fencing levels, alerts: each object of cib.xml replaces the live
  object with the same id (fencing levels: the same target and index), or is added;
- live objects whose id starts with ``hakari-`` but that cib.xml no longer has, and live
  fencing levels of hakari's nodes that cib.xml no longer has, are removed.

The difference is pushed as one patch (``crm_diff`` + ``cibadmin --patch``, as pcs does),
so concurrent changes to other objects are not overwritten, and nothing is pushed when
nothing differs: applying twice changes nothing the second time. CIB_file in the
environment makes every step work on a CIB file instead of the live cluster.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tempfile

from lxml import etree

from hakari.cluster import runner
from hakari.cluster.xml import parse_xml
from hakari.errors import ParseError

OWNED_PREFIX = "hakari-"
SECTIONS = ("resources", "constraints", "fencing-topology", "alerts")


@dataclasses.dataclass
class Plan:
    created: list[str] = dataclasses.field(default_factory=list)
    replaced: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)
    properties: list[str] = dataclasses.field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.replaced or self.removed or self.properties)

    def as_dict(self) -> dict:
        return {"changed": self.changed, **dataclasses.asdict(self)}


def _parse(data: bytes, what: str) -> etree._Element:
    root = parse_xml(data, what, ("cib",), remove_blank_text=True)
    if root.find("configuration") is None:
        raise ParseError(f"{what}: not a CIB (<cib><configuration>…)")
    return root


def _canonical(elem) -> bytes:
    # remove_blank_text at parse time already dropped formatting whitespace.
    return etree.tostring(elem, method="c14n")


def _key(elem) -> tuple:
    if elem.tag == "fencing-level":
        return ("fencing-level", elem.get("target"), elem.get("index"))
    return (elem.tag, elem.get("id"))


def _section(conf, name):
    section = conf.find(name)
    if section is None:
        section = etree.SubElement(conf, name)
    return section


def merge(live: etree._Element, desired: etree._Element) -> tuple[etree._Element, Plan]:
    """A copy of ``live`` with ``desired``'s objects merged in, and what changed."""
    new = copy.deepcopy(live)
    plan = Plan()
    conf, want = new.find("configuration"), desired.find("configuration")
    _merge_properties(_section(conf, "crm_config"), want.find("crm_config"), plan)
    targets = {lv.get("target") for lv in want.iterfind("fencing-topology/fencing-level")}
    for name in SECTIONS:
        wanted = want.find(name)
        objects = [] if wanted is None else [c for c in wanted if isinstance(c.tag, str)]
        live_section = conf.find(name)
        if live_section is None and not objects:
            continue
        section = _section(conf, name)
        present = {_key(c): c for c in section if isinstance(c.tag, str)}
        keys = set()
        for obj in objects:
            key = _key(obj)
            keys.add(key)
            old = present.get(key)
            label = f"{obj.tag} {obj.get('id')}"
            if old is None:
                section.append(copy.deepcopy(obj))
                plan.created.append(label)
            elif _canonical(old) != _canonical(obj):
                section.replace(old, copy.deepcopy(obj))
                plan.replaced.append(label)
        for key, old in present.items():
            if key in keys:
                continue
            owned = (old.get("id") or "").startswith(OWNED_PREFIX)
            our_level = old.tag == "fencing-level" and old.get("target") in targets
            if owned or our_level:
                section.remove(old)
                plan.removed.append(f"{old.tag} {old.get('id')}")
    return new, plan


def _merge_properties(live_config, wanted_config, plan: Plan) -> None:
    if wanted_config is None:
        return
    for wanted_set in wanted_config.iterfind("cluster_property_set"):
        live_set = next((s for s in live_config.iterfind("cluster_property_set")
                         if s.get("id") == wanted_set.get("id")), None)
        if live_set is None:
            live_config.append(copy.deepcopy(wanted_set))
            plan.properties += [nv.get("name") for nv in wanted_set.iterfind("nvpair")]
            continue
        for nv in wanted_set.iterfind("nvpair"):
            old = next((o for o in live_set.iterfind("nvpair")
                        if o.get("name") == nv.get("name")), None)
            if old is None:
                live_set.append(copy.deepcopy(nv))
            elif old.get("value") != nv.get("value"):
                old.set("value", nv.get("value"))
            else:
                continue
            plan.properties.append(nv.get("name"))


def apply(cib_xml: bytes, *, check: bool = False, timeout: float = 30.0) -> Plan:
    """Merge the rendered ``cib_xml`` into the CIB; with ``check``, only report."""
    desired = _parse(cib_xml, "rendered cib.xml")
    live_bytes = runner.run(["cibadmin", "--query"], timeout=timeout).stdout
    live = _parse(live_bytes, "cibadmin --query")
    new, plan = merge(live, desired)
    if check or not plan.changed:
        return plan
    with tempfile.TemporaryDirectory(prefix="hakari-apply-") as tmp:
        old_path, new_path, patch_path = (os.path.join(tmp, n)
                                          for n in ("live.xml", "new.xml", "patch.xml"))
        with open(old_path, "wb") as f:
            f.write(etree.tostring(live))
        with open(new_path, "wb") as f:
            f.write(etree.tostring(new))
        # crm_diff exits 1 when the files differ, which is the expected case here.
        diff = runner.run(["crm_diff", "--original", old_path, "--new", new_path,
                           "--no-version"], timeout=timeout, ok_codes=(0, 1))
        with open(patch_path, "wb") as f:
            f.write(diff.stdout)
        runner.run(["cibadmin", "--patch", "--xml-file", patch_path], timeout=timeout)
    return plan
