"""What a CIB configuration means, without its ids: for comparing cib.xml with pcs's result.

pcs names nvpairs, operations, rules and fencing levels its own way; what must agree is
every resource with its agent, parameters, meta-attributes and operations, every
constraint, the fencing topology, the alerts and the cluster properties.
"""

from __future__ import annotations

from lxml import etree


def _nvpairs(parent, tag) -> dict[str, str]:
    out = {}
    for block in parent.findall(tag):
        for nv in block.findall("nvpair"):
            out[nv.get("name")] = nv.get("value")
    return out


def _primitive(p) -> dict:
    return {
        "class": p.get("class"), "provider": p.get("provider"), "type": p.get("type"),
        "params": _nvpairs(p, "instance_attributes"),
        "meta": _nvpairs(p, "meta_attributes"),
        "ops": sorted((op.get("name"), op.get("interval"), op.get("timeout") or "")
                      for op in p.findall("operations/op")),
    }


def _rule(rule) -> tuple:
    exprs = sorted((e.get("attribute"), e.get("operation"), e.get("value"))
                   for e in rule.findall("expression"))
    # With one expression the boolean operator means nothing.
    op = rule.get("boolean-op", "and") if len(exprs) > 1 else None
    return (rule.get("score"), op, tuple(exprs))


def _constraint(c) -> tuple:
    if c.tag == "rsc_location":
        return ("location", c.get("rsc"), c.get("node"), c.get("score"),
                tuple(_rule(r) for r in c.findall("rule")))
    if c.tag == "rsc_order":
        return ("order", c.get("first"), c.get("first-action", "start"), c.get("then"),
                c.get("then-action", "start"), c.get("kind", "Mandatory"))
    if c.tag == "rsc_colocation":
        return ("colocation", c.get("rsc"), c.get("with-rsc"), c.get("score"))
    return (c.tag, tuple(sorted((k, v) for k, v in c.attrib.items() if k != "id")))


def _alert(a) -> dict:
    select = a.find("select")
    return {
        "path": a.get("path"),
        "meta": _nvpairs(a, "meta_attributes"),
        "params": _nvpairs(a, "instance_attributes"),
        "select": sorted(child.tag for child in select) if select is not None else None,
        "recipients": sorted(r.get("value") for r in a.findall("recipient")),
    }


def semantics(xml: bytes | str) -> dict:
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    conf = root if root.tag == "configuration" else root.find("configuration")
    resources = {}
    for p in conf.iter("primitive"):
        parent = p.getparent()
        entry = _primitive(p)
        entry["clone"] = None
        if parent.tag == "clone":
            entry["clone"] = {"id": parent.get("id"),
                              "meta": _nvpairs(parent, "meta_attributes")}
        resources[p.get("id")] = entry
    return {
        "properties": _nvpairs(conf.find("crm_config"), "cluster_property_set"),
        "resources": resources,
        "constraints": sorted((_constraint(c) for c in conf.find("constraints")
                               if isinstance(c.tag, str)), key=repr),
        "topology": sorted((lv.get("target"), int(lv.get("index")),
                            tuple(lv.get("devices").split(",")))
                           for lv in conf.iterfind("fencing-topology/fencing-level")),
        "alerts": {a.get("id"): _alert(a) for a in conf.iterfind("alerts/alert")},
    }
