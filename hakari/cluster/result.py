"""The ``<status code message>`` envelope of Pacemaker 2.x ``--output-as=xml`` results.

A tool that fails in XML mode still prints a well-formed ``<pacemaker-result>``; the
failure is only visible in its status element. Treating such a document as data would
turn "crm_mon could not connect" into "the cluster has no nodes".
"""

from __future__ import annotations

from lxml import etree

from hakari.errors import ClusterNotConnected, ParseError, ToolFailed

# Pacemaker's CRM_EX_DISCONNECT, same meaning as for the runner's exit status.
PCMK_NOT_CONNECTED = 102


def status_element(root: etree._Element) -> etree._Element | None:
    # The schema puts <status> last; look there first so big documents are not scanned.
    last = root[-1] if len(root) else None
    if last is not None and last.tag == "status":
        return last
    return root.find("status")


def check_status(root: etree._Element, what: str, argv=None) -> None:
    """Raise the matching HakariError if a ``<pacemaker-result>`` reports a failure."""
    status = status_element(root)
    if status is None:
        return
    raw = status.get("code", "0")
    try:
        code = int(raw)
    except ValueError:
        raise ParseError(f"{what}: <status code={raw[:40]!r}> is not a number") from None
    if code == 0:
        return
    message = " ".join((status.get("message") or "").split()) or "error"
    errors = [" ".join(e.text.split()) for e in status.iterfind("errors/error") if e.text]
    detail = f": {errors[0][:300]}" if errors else ""
    tool = _tool_name(root)
    stderr = "\n".join(errors)
    if code == PCMK_NOT_CONNECTED:
        raise ClusterNotConnected(
            f"{tool}: not connected to the cluster (is Pacemaker running on this node?)"
            f"{detail}", argv, code, stderr)
    raise ToolFailed(f"{tool}: {message} (exit status {code}){detail}", argv, code, stderr)


def first_error(root: etree._Element) -> str | None:
    """The first ``<errors><error>`` line of the status element, if any."""
    status = status_element(root)
    if status is None:
        return None
    for err in status.iterfind("errors/error"):
        if err.text and err.text.strip():
            return " ".join(err.text.split())[:300]
    return None


def _tool_name(root: etree._Element) -> str:
    request = (root.get("request") or "").split()
    if request:
        return request[0].rsplit("/", 1)[-1][:60]
    return "pacemaker tool"
