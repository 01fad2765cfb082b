"""The capacity estimate: flavor demands vs free room, in evacuation order. Pure."""

from __future__ import annotations

from hakari.recovery.host.capacity import UNLIMITED, Demand, Room, demand_of, unplaceable
from hakari.nova.resources import Server


def test_demand_of_flavor_and_volume_backed():
    flavor = {"vcpus": 2, "ram": 4096, "disk": 40, "ephemeral": 10, "swap": 1500}
    s = Server("a", "a", "ACTIVE", "h", "p", None, "active", {}, flavor, "img")
    assert demand_of(s) == Demand("a", 2, 4096, 40 + 10 + 2)
    bfv = Server("b", "b", "ACTIVE", "h", "p", None, "active", {}, flavor, None)
    assert demand_of(bfv).disk_gb == 12
    assert demand_of(Server("c", "c", "ACTIVE", "h", "p", None, "active", {},
                            {"id": "1"}, "img")) is None


def test_everything_fits():
    rooms = [Room("n1", 8, 8192, 100), Room("n3", 8, 8192)]
    demands = [Demand(str(i), 2, 2048, 20) for i in range(6)]
    assert unplaceable(demands, rooms) == {}


def test_low_priority_tail_is_left_over():
    rooms = [Room("n1", 64, 4096, 100)]
    demands = [Demand("hi", 1, 2048, 1), Demand("mid", 1, 2048, 1), Demand("lo", 1, 1, 1)]
    left = unplaceable(demands, rooms)
    assert set(left) == {"lo"}
    assert "1 vCPU, 1 MB RAM" in left["lo"] and "0 MB RAM" in left["lo"]


def test_best_fit_packs_more_than_first_fit():
    rooms = [Room("big", 64, 8192), Room("small", 64, 2048)]
    demands = [Demand("a", 1, 2048, 0), Demand("b", 1, 8192, 0)]
    assert unplaceable(demands, rooms) == {}     # "a" goes to "small", leaving "big"


def test_cpu_and_disk_limits_and_no_rooms():
    assert set(unplaceable([Demand("a", 4, 1, 0)], [Room("n", 2, 10**6)])) == {"a"}
    assert set(unplaceable([Demand("a", 1, 1, 50)], [Room("n", 2, 10**6, 10)])) == {"a"}
    assert unplaceable([Demand("a", 1, 1, 50)], [Room("n", 2, 10**6, UNLIMITED)]) == {}
    assert "no usable compute" in unplaceable([Demand("a", 1, 1, 1)], [])["a"]
