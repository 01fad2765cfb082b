"""hakari's replicated, restart-proof state in the CIB: permanent node attributes, and
the options of hakari's own ``cluster_property_set`` in ``crm_config``.

Written with crm_attribute so Pacemaker replicates them to every node; they survive the
engine moving elsewhere and a full cluster restart. Each attribute or option has exactly
one writer at a time (the engine, an operator's command, or fence_hakari) and each write
replaces one value, so no read-modify-write spans two of them.
"""

from __future__ import annotations

from hakari.cluster.runner import DEFAULT_TIMEOUT, run
from hakari.cluster.xml import parse_xml
from hakari.errors import ClusterNotConnected, ToolFailed

# crm_attribute and cibadmin: the node, attribute or XPath does not exist (CRM_EX_NOSUCH).
_NO_SUCH = 105
# Every node attribute hakari writes starts with this.
HAKARI_PREFIX = "hakari-"


def _node(node: str) -> list[str]:
    return ["--type", "nodes", "--node", node]


def _option(set_id: str) -> list[str]:
    return ["--type", "crm_config", "--set-name", set_id]


def query(node: str, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The node attribute's value, or None when it is not set."""
    return _query(_node(node), name, timeout)


def update(node: str, name: str, value: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    try:
        _update(_node(node), name, value, timeout)
    except ToolFailed as err:
        if err.returncode == _NO_SUCH:
            raise ToolFailed(f"crm_attribute: the cluster knows no node named {node!r}",
                             err.argv, err.returncode, err.stderr) from None
        raise


def delete(node: str, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Remove the attribute; removing one that is not set is not an error."""
    _delete(_node(node), name, timeout)


def query_option(set_id: str, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The value of option ``name`` in crm_config set ``set_id``, or None when unset."""
    return _query(_option(set_id), name, timeout)


def update_option(set_id: str, name: str, value: str, *,
                  timeout: float = DEFAULT_TIMEOUT) -> None:
    """Set one option of set ``set_id`` (created when missing); the others are left."""
    _update(_option(set_id), name, value, timeout)


def delete_option(set_id: str, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    _delete(_option(set_id), name, timeout)


def _query(target: list[str], name: str, timeout: float) -> str | None:
    result = run(["crm_attribute", *target, "--name", name, "--query", "--quiet"],
                 timeout=timeout, ok_codes=(0, _NO_SUCH))
    if result.returncode == _NO_SUCH:
        # 2.1.5 also exits "no such object" when it cannot reach the CIB at all; that
        # is no answer, and "not set" would let a returning host skip safety rule 5.
        _not_connected(result)
        return None
    value = result.stdout.decode("utf-8", "replace")
    return value[:-1] if value.endswith("\n") else value


def _update(target: list[str], name: str, value: str, timeout: float) -> None:
    if "\n" in value or "\0" in value:
        raise ValueError("attribute values must be one line")
    run(["crm_attribute", *target, "--name", name, "--update", value], timeout=timeout)


def _delete(target: list[str], name: str, timeout: float) -> None:
    run(["crm_attribute", *target, "--name", name, "--delete"], timeout=timeout,
        ok_codes=(0, _NO_SUCH))


def _not_connected(result) -> None:
    if "Could not connect" in result.stderr:
        raise ClusterNotConnected(f"{result.argv[0]}: {result.stderr.strip()[:200]}",
                                  result.argv, result.returncode, result.stderr)


def read_all(prefix: str = HAKARI_PREFIX, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, dict[str, str]]:
    """Every permanent node attribute whose name starts with ``prefix``, by node name.

    One cibadmin call for the whole cluster: the engine reconciles every few seconds
    and must not run one crm_attribute per node.
    """
    result = run(["cibadmin", "--query", "--scope", "nodes"], timeout=timeout)
    return parse_node_attributes(parse_xml(result.stdout, "CIB nodes section", ("nodes",)),
                                 prefix)


def read_options(set_id: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, str]:
    """Every option of crm_config set ``set_id`` (empty when the set does not exist)."""
    result = run(["cibadmin", "--query", "--xpath", _set_path(set_id)], timeout=timeout,
                 ok_codes=(0, _NO_SUCH))
    if result.returncode == _NO_SUCH:
        _not_connected(result)
        return {}
    return _options_of(parse_xml(result.stdout, f"CIB set {set_id}",
                                 ("cluster_property_set",)))


def read_configuration(set_id: str, prefix: str = HAKARI_PREFIX, *,
                       timeout: float = DEFAULT_TIMEOUT
                       ) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """(node attributes as read_all, options of set ``set_id``) from one cibadmin call."""
    result = run(["cibadmin", "--query", "--scope", "configuration"], timeout=timeout)
    root = parse_xml(result.stdout, "CIB configuration", ("configuration",))
    nodes = root.find("nodes")
    options = root.find(f"crm_config/cluster_property_set[@id='{set_id}']")
    return (parse_node_attributes(nodes, prefix) if nodes is not None else {},
            _options_of(options) if options is not None else {})


def _set_path(set_id: str) -> str:
    return f"/cib/configuration/crm_config/cluster_property_set[@id='{set_id}']"


def _options_of(cluster_property_set) -> dict[str, str]:
    return {nv.get("name"): nv.get("value") or ""
            for nv in cluster_property_set.iterfind("nvpair") if nv.get("name")}


def parse_node_attributes(nodes, prefix: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for node in nodes.iterchildren("node"):
        name = node.get("uname") or node.get("id")
        for nvpair in node.iterfind("instance_attributes/nvpair"):
            key = nvpair.get("name") or ""
            if key.startswith(prefix) and name:
                found.setdefault(name, {})[key] = nvpair.get("value") or ""
    return found
