"""Permanent node attributes in the CIB: hakari's replicated, restart-proof state.

Written with crm_attribute so Pacemaker replicates them to every node; they survive the
engine moving elsewhere and a full cluster restart. Each attribute has exactly one writer
(the engine, or fence_hakari) so no read-modify-write can lose an update.
"""

from __future__ import annotations

from hakari.cluster.runner import DEFAULT_TIMEOUT, run
from hakari.cluster.xml import parse_xml
from hakari.errors import ClusterNotConnected, ToolFailed

# crm_attribute: the node or the attribute does not exist (CRM_EX_NOSUCH).
_NO_SUCH = 105
# Every node attribute hakari writes starts with this.
HAKARI_PREFIX = "hakari-"


def query(node: str, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The attribute's value, or None when it is not set."""
    result = run(["crm_attribute", "--type", "nodes", "--node", node, "--name", name,
                  "--query", "--quiet"], timeout=timeout, ok_codes=(0, _NO_SUCH))
    if result.returncode == _NO_SUCH:
        # 2.1.5 also exits "no such object" when it cannot reach the CIB at all; that
        # is no answer, and "not set" would let a returning host skip safety rule 5.
        if "Could not connect" in result.stderr:
            raise ClusterNotConnected(f"crm_attribute: {result.stderr.strip()[:200]}",
                                      result.argv, result.returncode, result.stderr)
        return None
    value = result.stdout.decode("utf-8", "replace")
    return value[:-1] if value.endswith("\n") else value


def update(node: str, name: str, value: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    if "\n" in value or "\0" in value:
        raise ValueError("attribute values must be one line")
    try:
        run(["crm_attribute", "--type", "nodes", "--node", node, "--name", name,
             "--update", value], timeout=timeout)
    except ToolFailed as err:
        if err.returncode == _NO_SUCH:
            raise ToolFailed(f"crm_attribute: the cluster knows no node named {node!r}",
                             err.argv, err.returncode, err.stderr) from None
        raise


def delete(node: str, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Remove the attribute; removing one that is not set is not an error."""
    run(["crm_attribute", "--type", "nodes", "--node", node, "--name", name, "--delete"],
        timeout=timeout, ok_codes=(0, _NO_SUCH))


def read_all(prefix: str = HAKARI_PREFIX, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, dict[str, str]]:
    """Every permanent node attribute whose name starts with ``prefix``, by node name.

    One cibadmin call for the whole cluster: the engine reconciles every few seconds
    and must not run one crm_attribute per node.
    """
    result = run(["cibadmin", "--query", "--scope", "nodes"], timeout=timeout)
    return parse_node_attributes(parse_xml(result.stdout, "CIB nodes section", ("nodes",)),
                                 prefix)


def parse_node_attributes(nodes, prefix: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for node in nodes.iterchildren("node"):
        name = node.get("uname") or node.get("id")
        for nvpair in node.iterfind("instance_attributes/nvpair"):
            key = nvpair.get("name") or ""
            if key.startswith(prefix) and name:
                found.setdefault(name, {})[key] = nvpair.get("value") or ""
    return found
