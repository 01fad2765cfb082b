"""Merging a rendered cib.xml into a live CIB: only hakari's objects change."""

import os
import pathlib
import subprocess
import sys

import pytest
from lxml import etree

from hakari.cluster_config import cib_apply, render, schema
from tests import bad_input_files

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cluster.yaml"

LIVE = b"""<cib epoch="7" num_updates="3" admin_epoch="0" validate-with="pacemaker-3.9">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="o1" name="cluster-name" value="prod"/>
        <nvpair id="o2" name="stonith-enabled" value="false"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources>
      <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>
      <primitive id="hakari-power-gone" class="stonith" type="fence_ipmilan"/>
    </resources>
    <constraints>
      <rsc_location id="vip-pref" rsc="vip" node="ctl1" score="100"/>
    </constraints>
    <fencing-topology>
      <fencing-level id="fl-ctl1-1" target="ctl1" index="1" devices="old"/>
      <fencing-level id="fl-ctl1-3" target="ctl1" index="3" devices="old"/>
      <fencing-level id="fl-db1-1" target="db1" index="1" devices="db-fence"/>
    </fencing-topology>
  </configuration>
  <status/>
</cib>"""


def parse(data: bytes):
    return etree.fromstring(data, etree.XMLParser(remove_blank_text=True))


def desired():
    files = render.render_all(schema.load_vars(str(EXAMPLE)))
    return parse(files["cib.xml"].encode())


def test_merge_keeps_foreign_objects_and_replaces_ours():
    new, plan = cib_apply.merge(parse(LIVE), desired())
    conf = new.find("configuration")
    ids = [r.get("id") for r in conf.find("resources")]
    assert ids[0] == "vip" and "hakari-power-gone" not in ids and "hakari-evacuator" in ids
    assert "primitive hakari-power-gone" in plan.removed
    assert conf.find("constraints/rsc_location[@id='vip-pref']") is not None
    levels = {(lv.get("target"), lv.get("index")): lv.get("devices")
              for lv in conf.iterfind("fencing-topology/fencing-level")}
    assert levels[("ctl1", "1")] == "hakari-power-ctl1"      # replaced by target+index
    assert ("ctl1", "3") not in levels                        # a level hakari no longer has
    assert levels[("db1", "1")] == "db-fence"                 # not one of hakari's nodes
    props = {nv.get("name"): nv.get("value")
             for nv in conf.iterfind("crm_config/cluster_property_set/nvpair")}
    assert props["cluster-name"] == "prod" and props["stonith-enabled"] == "true"
    assert conf.find("alerts/alert[@id='hakari-alert']/select/select_attributes") is not None
    assert plan.changed


def test_merge_twice_changes_nothing():
    once, _ = cib_apply.merge(parse(LIVE), desired())
    twice, plan = cib_apply.merge(parse(etree.tostring(once)), desired())
    assert not plan.changed and plan.as_dict()["changed"] is False
    assert etree.tostring(twice) == etree.tostring(once)


def test_formatting_differences_are_not_changes():
    wanted = desired()
    pretty = etree.tostring(cib_apply.merge(parse(LIVE), wanted)[0], pretty_print=True)
    _, plan = cib_apply.merge(parse(pretty), wanted)
    assert not plan.changed


# -- reading the rendered file ----------------------------------------------------------

def apply_cib(*args, stdin=None, timeout=30):
    # No Pacemaker tool on PATH: the file must be judged before any of them would run.
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    env.pop("CIB_file", None)
    return subprocess.run([sys.executable, "-m", "hakari", "apply-cib", *args], env=env,
                          cwd=ROOT, stdin=stdin, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("kind", bad_input_files.KINDS)
def test_cib_xml_that_is_no_small_regular_file(tmp_path, kind):
    from hakari.commands.apply_cib import MAX_CIB_XML_BYTES

    path = bad_input_files.make(tmp_path, kind, MAX_CIB_XML_BYTES)
    proc = apply_cib(str(path), "--check")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == bad_input_files.error_line(path, kind, MAX_CIB_XML_BYTES)


def test_cib_xml_from_standard_input_is_bounded():
    from hakari.commands.apply_cib import MAX_CIB_XML_BYTES

    with open("/dev/zero", "rb") as zero:
        proc = apply_cib("-", "--check", stdin=zero)
    assert proc.returncode == 2
    assert proc.stderr == (f"hakari: error: standard input: larger than "
                           f"{MAX_CIB_XML_BYTES} bytes\n")


def test_cib_xml_limit_fits_a_4096_node_cluster():
    from hakari.commands.apply_cib import MAX_CIB_XML_BYTES

    data = schema.load_vars(str(EXAMPLE))
    one = len(render.render_all(data)["cib.xml"])
    data["computes"] += [
        {"name": f"extra{i}", "nodeid": 1000 + i,
         "addresses": [f"10.1.{i // 200}.{i % 200 + 1}", f"10.2.{i // 200}.{i % 200 + 1}"],
         "fence": data["computes"][0]["fence"]} for i in range(100)]
    per_node = (len(render.render_all(data)["cib.xml"]) - one) / 100
    assert 1_000 < per_node < 3_000
    assert 3 * per_node * 4096 < MAX_CIB_XML_BYTES
