"""The Nova adapter against the fake Nova: what may be retried, pagination, embedded
flavor extra specs and image properties, capacity reads."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from hakari.nova import fencing
from hakari.nova.client import Nova
from hakari.nova.errors import NovaConflict, NovaError, NovaNotFound
from tests.recovery_helpers import conf_for_fake

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def nova(fake_nova, tmp_path):
    n = Nova.connect(conf_for_fake(fake_nova, tmp_path))
    n.backoff = 0.01
    return n


def evacuate_calls(fake):
    return fake.requests(route="servers.action.evacuate")


def test_read_timeout_on_evacuate_is_ambiguous_and_not_retried(fake_nova, nova):
    [sid] = fake_nova.add_servers(1, hosts=["node2"])
    fake_nova.kill_host("node2")
    fake_nova.add_fault(route="servers.action.evacuate", phase="after", action="hang",
                        hang=3, then="respond")
    nova.timeout = 0.5
    with pytest.raises(NovaError) as exc:
        nova.evacuate(sid)
    assert exc.value.ambiguous and exc.value.status is None
    assert len(evacuate_calls(fake_nova)) == 1


@pytest.mark.parametrize("action", ["drop", "reset"])
def test_connection_lost_after_sending_is_ambiguous(fake_nova, nova, action):
    [sid] = fake_nova.add_servers(1, hosts=["node2"])
    fake_nova.kill_host("node2")
    fake_nova.add_fault(route="servers.action.evacuate", action=action, count=1)
    with pytest.raises(NovaError) as exc:
        nova.evacuate(sid)
    assert exc.value.ambiguous
    assert len(evacuate_calls(fake_nova)) == 1


def test_5xx_on_evacuate_is_ambiguous_and_not_retried_but_reads_are(fake_nova, nova):
    [sid] = fake_nova.add_servers(1, hosts=["node2"])
    fake_nova.kill_host("node2")
    fake_nova.add_fault(route="servers.action.evacuate", status=503, count=1)
    with pytest.raises(NovaError) as exc:
        nova.evacuate(sid)
    assert exc.value.ambiguous and exc.value.status == 503 and exc.value.request_id
    fake_nova.add_fault(route="servers.show", status=500, count=2)
    assert nova.server(sid).id == sid
    assert len(fake_nova.requests(route="servers.show")) == 3


def test_refusals_are_definitive(fake_nova, nova):
    [sid] = fake_nova.add_servers(1, hosts=["node2"])
    with pytest.raises(NovaConflict) as exc:        # source still up: 400 "in use"
        nova.evacuate(sid)
    assert not exc.value.ambiguous and "still in use" in str(exc.value)
    with pytest.raises(NovaNotFound):
        nova.evacuate("00000000-0000-4000-8000-000000000000")


def test_connection_refused_is_not_ambiguous(tmp_path):
    from hakari.nova import client as novamod
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

    refused = requests.exceptions.ConnectionError(
        MaxRetryError(None, "/", NewConnectionError(None, "refused")))
    try:
        try:
            raise refused
        except requests.exceptions.ConnectionError:
            raise RuntimeError("wrapped")
    except RuntimeError as err:
        assert not novamod._may_have_reached(err)
    lost = requests.exceptions.ConnectionError(ProtocolError("Connection aborted."))
    assert novamod._may_have_reached(lost)
    assert novamod._may_have_reached(requests.exceptions.ReadTimeout())
    assert not novamod._may_have_reached(requests.exceptions.ConnectTimeout())


def test_evacuations_pages_and_keeps_accepted_ones(fake_nova, nova):
    fake_nova.add_hosts(1)
    ids = fake_nova.add_servers(1205, hosts=["node2"])
    fake_nova.kill_host("node2")
    fake_nova.set_service("node2", forced_down=True)
    fake_nova.configure_evacuation(rebuild_time=30, claim_delay=30)   # stay "accepted"
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(nova.evacuate, ids))
    found = nova.evacuations("node2", since=before)
    assert len(found) == 1205 and {m.server_id for m in found} == set(ids)
    assert {m.status for m in found} == {"accepted"} and all(m.in_flight for m in found)
    assert len(fake_nova.requests(route="migrations.list")) == 2
    assert nova.evacuations("node2", since=dt.datetime.now(dt.timezone.utc) +
                            dt.timedelta(minutes=5)) == []


def test_servers_embed_extra_specs_and_image_properties(fake_nova, nova):
    fake_nova.add_flavor("ha", extra_specs={"evacuable": "true"}, flavor_id="ha")
    [sid] = fake_nova.add_servers(1, hosts=["node2"], flavor="ha", metadata={"k": "v"})
    [s] = nova.servers_on_host("node2")
    assert s.id == sid and s.flavor_extra_specs == {"evacuable": "true"}
    assert s.metadata == {"k": "v"} and s.image_properties == {}
    assert nova.max_microversion() >= (2, 98)
    assert {r.microversion for r in fake_nova.requests(route="servers.detail")} == {"2.98"}


def test_list_microversion_follows_an_older_nova(tmp_path):
    from lab.fakenova import FakeNova
    with FakeNova(seed=3, max_microversion="2.90") as fake:
        fake.add_hosts(1)
        fake.add_servers(1, hosts=["node1"])
        n = Nova.connect(conf_for_fake(fake, tmp_path))
        assert len(n.servers_on_host("node1")) == 1
        assert {r.microversion for r in fake.requests(route="servers.detail")} == {"2.90"}


def test_aggregates_and_hypervisors(fake_nova, nova):
    fake_nova.add_aggregate("rack1", hosts=["node1", "node2"], metadata={"evacuable": "1"})
    [agg] = [a for a in nova.aggregates() if a.name == "rack1"]
    assert agg.hosts == ("node1", "node2") and agg.metadata["evacuable"] == "1"
    hv = {h.host: h for h in nova.hypervisors()}
    assert set(hv) == {"node1", "node2", "node3"} and hv["node1"].name == "node1"


def test_missing_placement_is_a_plain_error_at_once(nova):
    import time
    t0 = time.monotonic()
    with pytest.raises(NovaError) as exc:
        nova.free_room()
    assert not exc.value.ambiguous and "placement" in str(exc.value)
    assert time.monotonic() - t0 < 1


def test_unfencing_a_host_back_early_makes_nova_call_nothing(fake_nova, nova):
    """A host back within Nova's service_down_time (a quick reboot) still looks up to
    Nova once un-forced, and its nova-compute is not running yet: enabling it then would
    make Nova wait on an RPC (here 2 s; 60 s in Nova). unfence enables first, while the
    service is forced down (docs/design.md, rule 3)."""
    fake_nova.dead_rpc_delay = 2.0
    fake_nova.kill_host("node1", down_after=60)
    fencing.fence(nova, "node1", fencing.reason("fenced"))
    started = time.monotonic()
    svc = fencing.unfence(nova, "node1")
    assert time.monotonic() - started < 1.0
    assert svc.enabled and not svc.forced_down
