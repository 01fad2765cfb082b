"""Permanent node attributes in the CIB: hakari's replicated, restart-proof state.

Written with crm_attribute so Pacemaker replicates them to every node; they survive the
engine moving elsewhere and a full cluster restart. Each attribute has exactly one writer
(the engine, or fence_hakari) so no read-modify-write can lose an update.
"""

from __future__ import annotations

from hakari.cluster.runner import DEFAULT_TIMEOUT, run
from hakari.errors import ToolFailed

# crm_attribute: the node or the attribute does not exist (CRM_EX_NOSUCH).
_NO_SUCH = 105


def query(node: str, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The attribute's value, or None when it is not set."""
    result = run(["crm_attribute", "--type", "nodes", "--node", node, "--name", name,
                  "--query", "--quiet"], timeout=timeout, ok_codes=(0, _NO_SUCH))
    if result.returncode == _NO_SUCH:
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
