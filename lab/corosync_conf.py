"""corosync.conf for a lab: knet on the lab subnet, no crypto, a short token."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Member:
    name: str
    nodeid: int
    address: str
    votes: int = 1


def render(cluster_name: str, members: list[Member], token_ms: int = 1000) -> str:
    nodes = []
    for m in members:
        votes = f"\t\tquorum_votes: {m.votes}\n" if m.votes != 1 else ""
        nodes.append(
            "\tnode {\n"
            f"\t\tname: {m.name}\n"
            f"\t\tnodeid: {m.nodeid}\n"
            f"\t\tring0_addr: {m.address}\n"
            f"{votes}"
            "\t}\n")
    # Crypto off: nothing leaves the lab's namespaces, and no authkey to distribute.
    return (
        "# Written by hakari's lab (lab/corosync_conf.py); rewritten at every `up`.\n"
        "totem {\n"
        "\tversion: 2\n"
        f"\tcluster_name: {cluster_name}\n"
        "\ttransport: knet\n"
        "\tcrypto_cipher: none\n"
        "\tcrypto_hash: none\n"
        f"\ttoken: {token_ms}\n"
        "}\n"
        "logging {\n"
        "\tto_logfile: yes\n"
        "\tlogfile: /var/log/corosync/corosync.log\n"
        "\tto_stderr: no\n"
        "\tto_syslog: no\n"
        "\ttimestamp: hires\n"
        "}\n"
        "quorum {\n"
        "\tprovider: corosync_votequorum\n"
        "}\n"
        "nodelist {\n" + "".join(nodes) + "}\n")
