"""`python -m lab …`: the lab for people (and `make lab-up` / `make lab-down`).

    python -m lab up [--nodes 3] [--computes 2] [--ghosts 0] [--name lab] [--nova]
    python -m lab status | crm-mon [NODE]
    python -m lab exec node1 -- crm_mon -1
    python -m lab power-off node2 | power-on node2 | cut node3 | heal node3
    python -m lab wait --fenced node2 --timeout 30
    python -m lab fence-control node2 --fail | --delay 5 | --clear
    python -m lab down [--all] [--keep-logs]
"""

from __future__ import annotations

import argparse
import json
import sys

from lab import config, power, teardown
from lab.cluster import Lab, LabError, check_prerequisites, exit_on_sigterm
from lab.proc import CommandError


def _lab(args) -> Lab:
    return Lab.attach(args.name)


def cmd_up(args) -> int:
    cib_xml = []
    for path in args.cib_xml or ():
        with open(path) as f:
            cib_xml.append(f.read())
    nodes, ghosts = (1, max(args.ghosts, 1)) if args.single else (args.nodes, args.ghosts)
    lab = Lab.up(args.name, nodes=nodes, ghosts=ghosts,
                 computes=0 if args.single else args.computes,
                 cib_xml=cib_xml,
                 token_ms=args.token_ms, wait=not args.no_wait, timeout=args.timeout)
    print(f"lab {lab.name} up: real {', '.join(lab.real_nodes)}"
          + (f"; ghosts {', '.join(lab.ghosts)}" if lab.ghosts else "")
          + f"; state {lab.path}")
    print("timings (s): " + json.dumps(lab.timings))
    if args.nova:
        from lab.stack import Stack
        stack = Stack.up(lab, exit_with_parent=False)
        print(f"nova: {stack.nova.auth_url} (pid {stack.nova.pid}); clouds.yaml "
              f"{stack.nova.clouds_yaml} (inside nodes: {stack.nova.netns_clouds_yaml}), "
              f"cloud {stack.nova.cloud}; each node has its own {stack.conf_path}")
    print(f"run on a node: python -m lab exec --name {lab.name} node1 -- crm_mon -1")
    return 0


def cmd_down(args) -> int:
    check_prerequisites()
    names = teardown.list_labs() if args.all else [args.name]
    for name in names:
        lab = Lab(name)
        from lab.stack import down as stack_down, remove_agents
        if stack_down(lab.path):
            print(f"lab {name}: nova stopped")
        report = lab.down(keep_logs=args.keep_logs)
        remove_agents()
        print(f"lab {name} down in {report['seconds']}s"
              + ("" if report.get("graceful", True) else " (some daemons had to be killed)"))
    if args.all and not names:
        print("no lab found")
    return 0


def cmd_list(args) -> int:
    for name in teardown.list_labs():
        print(name)
    return 0


def cmd_status(args) -> int:
    lab = _lab(args)
    for node in lab.nodes:
        if node in lab.ghosts:
            print(f"{node}  {lab.address(node):<13} ghost")
            continue
        on = "on " if lab.is_on(node) else "off"
        cut = " cut" if lab.is_cut(node) else ""
        print(f"{node}  {lab.address(node):<13} power {on}{cut}  netns {lab.netns(node)}")
    for ns, entry in lab.state["attached"].items():
        print(f"attached {ns} {entry['address']}")
    try:
        print(lab.view().summary())
    except LabError as err:
        print(f"crm_mon: {err}")
    except ImportError:
        print("(cluster view needs lxml: use .venv/bin/python -m lab)")
    return 0


def cmd_crm_mon(args) -> int:
    lab = _lab(args)
    node = args.node or lab.powered_nodes()[0]
    res = lab.exec(node, ["crm_mon", "-1", "--fence-history=3"], check=False)
    sys.stdout.write(res.stdout.decode("utf-8", "replace"))
    sys.stderr.write(res.stderr.decode("utf-8", "replace"))
    return res.returncode


def cmd_exec(args) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise LabError("exec: nothing to run (python -m lab exec node1 -- crm_mon -1)")
    res = _lab(args).exec(args.node, argv, check=False, timeout=args.timeout)
    sys.stdout.buffer.write(res.stdout)
    sys.stderr.buffer.write(res.stderr)
    return res.returncode


def cmd_power_off(args) -> int:
    killed = _lab(args).power_off(args.node)
    print(f"{args.node} powered off ({len(killed)} processes killed)")
    return 0


def cmd_power_on(args) -> int:
    _lab(args).power_on(args.node, wait=not args.no_wait, timeout=args.timeout)
    print(f"{args.node} powered on")
    return 0


def cmd_cut(args) -> int:
    _lab(args).cut(args.node)
    print(f"{args.node} cut off the lab network")
    return 0


def cmd_heal(args) -> int:
    _lab(args).heal(args.node)
    print(f"{args.node} back on the lab network")
    return 0


def cmd_wait(args) -> int:
    checks = []
    for n in args.online or ():
        checks.append((f"{n} online", lambda v, n=n: v.joined(n)))
    for n in args.offline or ():
        checks.append((f"{n} offline", lambda v, n=n: v.offline_clean(n)))
    for n in args.unclean or ():
        checks.append((f"{n} unclean", lambda v, n=n: v.unclean(n)))
    for n in args.fenced or ():
        checks.append((f"{n} fenced", lambda v, n=n: bool(v.fenced(n))))
    lab = _lab(args)
    if not checks:
        view = lab.wait_ready(timeout=args.timeout)
    else:
        what = ", ".join(c[0] for c in checks)
        view = lab.wait(lambda v: all(c[1](v) for c in checks), timeout=args.timeout,
                        node=args.node, what=what)
    print(view.summary())
    return 0


def cmd_fence_control(args) -> int:
    lab = _lab(args)
    if args.clear:
        lab.clear_fence()
        print("fence agent: normal for every target")
        return 0
    if not args.target:
        raise LabError("fence-control: name a target (or --clear)")
    lab.set_fence(args.target, fail=args.fail, delay=args.delay, dead=args.dead)
    print(f"fence agent for {args.target}: fail={args.fail} delay={args.delay}s "
          f"dead={args.dead}")
    return 0


def cmd_fence_log(args) -> int:
    for entry in _lab(args).fence_log():
        print(json.dumps(entry, sort_keys=True))
    return 0


def cmd_attach(args) -> int:
    _lab(args).attach_namespace(args.netns, args.address, create=not args.no_create)
    print(f"{args.netns} attached to lab {args.name} as {args.address}")
    return 0


def cmd_detach(args) -> int:
    _lab(args).detach_namespace(args.netns)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab",
                                     description="hakari's local Pacemaker lab")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--name", default=config.DEFAULT_NAME,
                       help=f"lab name (default {config.DEFAULT_NAME})")
        p.set_defaults(func=func)
        return p

    p = add("up", cmd_up, "build and start a lab (replacing any lab of that name)")
    p.add_argument("--nodes", type=int, default=3, help="real nodes (default 3)")
    p.add_argument("--ghosts", type=int, default=0, help="ghost nodes (never start)")
    p.add_argument("--computes", type=int, default=2,
                   help="Pacemaker Remote computes compute1..N beside the --nodes "
                        "controllers, the shape of a real cloud (default 2; 0: the "
                        "members-only lab, every node a Corosync member and a compute)")
    p.add_argument("--single", action="store_true",
                   help="one real node plus ghost nodes (default 1 ghost)")
    p.add_argument("--token-ms", type=int, default=1000)
    p.add_argument("--cib-xml", action="append", metavar="FILE",
                   help="extra CIB element (primitive, alert, …) from FILE; repeatable")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the cluster")
    p.add_argument("--nova", action="store_true",
                   help="also start a real Nova (computes named like the nodes) on the lab "
                   "bridge at 10.213.0.2 and put fence_hakari in the fencing topology")
    p.add_argument("--timeout", type=float, default=60.0)

    p = add("down", cmd_down, "stop and remove a lab (nothing left behind)")
    p.add_argument("--all", action="store_true", help="every lab found on this machine")
    p.add_argument("--keep-logs", action="store_true")

    add("list", cmd_list, "labs (or their leftovers) found on this machine")
    add("status", cmd_status, "nodes, power, network and the cluster's view")
    p = add("crm-mon", cmd_crm_mon, "crm_mon -1 (text) on a node")
    p.add_argument("node", nargs="?")
    p = add("exec", cmd_exec, "run a command on a node")
    p.add_argument("node")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.add_argument("--timeout", type=float, default=300.0)
    p = add("power-off", cmd_power_off, "cut a node's power (SIGKILL all it runs)")
    p.add_argument("node")
    p = add("power-on", cmd_power_on, "boot a node and wait until it rejoined")
    p.add_argument("node")
    p.add_argument("--no-wait", action="store_true")
    p.add_argument("--timeout", type=float, default=30.0)
    p = add("cut", cmd_cut, "disconnect a node from the lab network")
    p.add_argument("node")
    p = add("heal", cmd_heal, "reconnect a node to the lab network")
    p.add_argument("node")
    p = add("wait", cmd_wait, "wait for a cluster state (default: all up)")
    p.add_argument("--online", action="append", metavar="NODE")
    p.add_argument("--offline", action="append", metavar="NODE")
    p.add_argument("--unclean", action="append", metavar="NODE")
    p.add_argument("--fenced", action="append", metavar="NODE")
    p.add_argument("--node", help="observe from this node")
    p.add_argument("--timeout", type=float, default=60.0)
    p = add("fence-control", cmd_fence_control,
            "make the lab fence agent fail or delay for a target")
    p.add_argument("target", nargs="?", help="node name, or * for all")
    p.add_argument("--fail", action="store_true")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--dead", action="store_true",
                   help="the target does not power on again (its device's `on` fails)")
    p.add_argument("--clear", action="store_true")
    add("fence-log", cmd_fence_log, "every call of the lab fence agent (JSON lines)")
    p = add("attach", cmd_attach, "cable a network namespace to the lab bridge")
    p.add_argument("netns")
    p.add_argument("address", nargs="?", default=config.NOVA_ADDRESS)
    p.add_argument("--no-create", action="store_true")
    p = add("detach", cmd_detach, "uncable an attached namespace")
    p.add_argument("netns")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    exit_on_sigterm()
    try:
        return args.func(args)
    except (LabError, power.PowerError, CommandError, ValueError, TimeoutError) as err:
        print(f"lab: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
