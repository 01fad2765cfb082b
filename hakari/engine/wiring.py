"""The engine assembled from its real collaborators, in one place: what `hakari engine`
(and so ocf:hakari:evacuator) runs. Making the state directory happens here, before
anything is opened in it; the Engine itself only works with what it is given."""

from __future__ import annotations

import dataclasses
import os

from hakari.alerts.spool import Spool
from hakari.cluster import live
from hakari.engine.loop import Engine, Parts
from hakari.nova.client import Nova
from hakari.records.journal import Journal, ensure_state_dir
from hakari.records.store import ClusterStore
from hakari.state_dirs import make_state_dirs


def build(conf, *, config_files: list[str] | None = None,
          os_cloud: str | None = None) -> Engine:
    # Narrow looks only here: an engine given another look (a test's) must not lay the
    # real cluster's nodes over it.
    return Engine(conf, dataclasses.replace(parts(conf), look_narrow=live.look_narrow),
                  config_files=config_files, os_cloud=os_cloud)


def parts(conf) -> Parts:
    """The state directory made and opened; the cluster (one live look: the CIB and the
    fence history) and Nova as they are. Tests replace what they stand in for
    (``dataclasses.replace(parts(conf), look=...)``)."""
    if os.geteuid() == 0:
        # The installer's owners and modes: the alert agent (user hacluster) must be
        # able to write the spool, and nobody else.
        make_state_dirs(conf.state_dir)
    ensure_state_dir(conf.state_dir)
    journal = Journal.open(conf.state_dir)
    return Parts(
        look=live.look,
        connect_nova=Nova.connect,
        journal=journal,
        store=ClusterStore(journal, conf.cluster.tool_timeout),
        spool=Spool(conf.state_dir))
