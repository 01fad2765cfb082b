"""fence_hakari leaves a held host's Nova service alone (hakari hold, or [recovery]
excluded_hosts), on fencing and unfencing alike, and still keeps its CIB record; an
unheld host is forced down and disabled as usual. Real crm_attribute on an offline CIB,
the fake Nova."""

from __future__ import annotations

import io
import time

import pytest

from hakari import config, holds
from hakari.cluster import attributes
from hakari.model import FENCED_ATTRIBUTE
from hakari.nova.client import Nova
from hakari.resource_agents import fence_hakari
from lab.fakenova.sdk import write_clouds_yaml

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def setup(fake_nova, offline_cib, tmp_path):
    offline_cib('<node id="node2" uname="node2" type="remote"/>')
    clouds = write_clouds_yaml(tmp_path / "clouds.yaml", fake_nova.info())

    def conf(extra: str = "") -> str:
        path = tmp_path / "hakari.conf"
        path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
                        f"[openstack]\ncloud = fakenova\nclouds_file = {clouds}\n{extra}")
        return str(path)

    return fake_nova, conf


def fence(action: str, conf: str) -> int:
    return fence_hakari.main([], io.StringIO(f"action={action}\nplug=node2\n"
                                             f"config_file={conf}\n"))


def service_changes(fake) -> int:
    return len(fake.requests(route="services.update"))


@pytest.mark.parametrize("how", ["hold", "excluded_hosts"])
def test_a_held_hosts_nova_service_is_left_alone(setup, how, capsys):
    fake, make_conf = setup
    if how == "hold":
        conf = make_conf()
        holds.place("node2", "gina@ctl1", "BMC work", timeout=30)
    else:
        conf = make_conf("[recovery]\nexcluded_hosts = node2\n")
    fake.kill_host("node2")
    assert fence("off", conf) == 0
    assert service_changes(fake) == 0
    assert fake.host("node2")["status"] == "enabled"
    assert attributes.query("node2", FENCED_ATTRIBUTE, timeout=30)   # still recorded
    assert fence("on", conf) == 0
    assert service_changes(fake) == 0
    assert attributes.query("node2", FENCED_ATTRIBUTE, timeout=30) is None
    assert "left alone" in capsys.readouterr().err


def test_an_unheld_host_is_fenced_in_nova_as_usual(setup):
    fake, make_conf = setup
    conf = make_conf()
    holds.place("node2", "gina@ctl1", "BMC work", timeout=30)
    holds.lift("node2", timeout=30)
    fake.kill_host("node2")
    assert fence("off", conf) == 0
    host = fake.host("node2")
    assert host["forced_down"] and host["status"] == "disabled"


def test_unfencing_does_not_wait_for_novas_clean_up(setup, capsys):
    """After an evacuation Nova keeps the host forced down until its nova-compute has
    restarted and cleaned up, which happens only once the host has rejoined: `on` must
    succeed anyway, or Pacemaker retries it until it gives up on the node."""
    fake, make_conf = setup
    conf = make_conf()
    [sid] = fake.add_servers(1, hosts=["node2"])
    fake.kill_host("node2")
    assert fence("off", conf) == 0
    # Evacuated (migration done), the host's nova-compute not restarted yet.
    fake.set_service("node2", forced_down=True)
    admin_evacuate(fake, conf, sid)
    assert fence("on", conf) == 0
    assert "cleaned up" in capsys.readouterr().err
    assert fake.host("node2")["forced_down"]
    fake.revive_host("node2")                 # nova-compute restarted: done -> completed
    assert fence("on", conf) == 0
    host = fake.host("node2")
    assert not host["forced_down"] and host["status"] == "enabled"


def admin_evacuate(fake, conf: str, server_id: str) -> None:
    """One evacuation of server_id through hakari's Nova adapter, run to ``done``."""
    Nova.connect(config.load([conf])).evacuate(server_id)
    deadline = time.monotonic() + 10
    while not fake.migrations(server_id=server_id, status="done"):
        assert time.monotonic() < deadline, "evacuation not done"
        time.sleep(0.05)
