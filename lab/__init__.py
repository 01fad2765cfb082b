"""The local lab: real Pacemaker nodes in network namespaces and a real Nova.

Pacemaker lab (root; `python -m lab --help`, `make lab-up` / `make lab-down`):

    from lab.cluster import Lab
    lab = Lab.up("lab", nodes=3)                  # node1..3 at 10.213.0.11-13, ~5 s
    lab = Lab.up("lab", nodes=3, computes=2)      # + Pacemaker Remote compute1, compute2
    lab = Lab.up("demo", nodes=1, ghosts=1)       # node1 real, node2 a ghost
    lab.exec("node1", ["crm_mon", "-1"])          # CompletedProcess, bytes
    lab.power_off("node2")                        # power cut: SIGKILL all on node2
    lab.wait(lambda v: v.fenced("node2"), timeout=30)   # v: lab.crm_view.View
    lab.power_on("node2")                         # boots, waits until rejoined
    lab.cut("node3"); lab.heal("node3")           # cable out / in at the lab switch
    lab.set_fence("node2", fail=True, delay=0)    # the lab fence agent misbehaves
    lab.set_fence("compute1", dead=True)          # ... or cannot switch compute1 on
    lab.fence_log()                               # every fence agent call
    lab.attach_namespace("hakari-lab-nova", "10.213.0.2")   # Nova lab on the bridge
    lab.down()                                    # nothing left; also lab.cluster.down(name)

Layout: one bridge namespace per lab; per real node a network namespace and a holder
process (lab.holder) owning private mount/UTS namespaces, the node's daemons and their
reaping. State under /var/lib/hakari-lab/<name>/ (visible inside nodes, where the fence
agent fence_hakarilab reads it). No module here imports anything at package import time:
the fence agent imports lab.* with the system Python.
"""
