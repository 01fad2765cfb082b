"""`hakari status`: the cluster as hakari sees it."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "status", help="show nodes, quorum, DC and fencing as hakari sees them",
        description="Read the cluster (crm_mon with fence history) or a saved crm_mon XML "
        "file and show nodes, quorum, the DC and recent fencing.")
    p.add_argument("--crm-mon-file", metavar="F",
                   help="parse this saved crm_mon XML (2.x --output-as=xml or legacy "
                   "--as-xml) instead of running crm_mon")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: text)")
    p.set_defaults(run=run)


def run(args) -> int:
    raise NotImplementedError
