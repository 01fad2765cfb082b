"""Test-only stand-in for the `openstack` client: the catalog commands the rendered
keystone-commands.sh runs, and nothing else, over a JSON file (FAKE_OPENSTACK_STATE:
{"services": [...], "endpoints": [...], "calls": [argv, ...]}).

    service list -f value -c COL...
    service create --name NAME [--description TEXT] TYPE
    endpoint list [--service NAME] [--interface I] [--region R] -f value -c COL...
    endpoint create [--region R] SERVICE INTERFACE URL
    endpoint set --url URL ID

Anything else, or an option it does not know, fails as the real client would.
It also records OS_CLOUD, which the script must export.
"""

import json
import os
import sys
import uuid


def options(args, known, flags=()):
    """(values by option, positional arguments); repeated -c accumulate."""
    values, positional = {"-c": []}, []
    it = iter(args)
    for arg in it:
        if arg in known:
            value = next(it)
            if arg == "-c":
                values["-c"].append(value)
            else:
                values[arg] = value
        elif arg in flags:
            values[arg] = True
        elif arg.startswith("-"):
            raise SystemExit(f"openstack: unrecognized arguments: {arg}")
        else:
            positional.append(arg)
    return values, positional


def show(rows, columns):
    for row in rows:
        print(" ".join(str(row[c]) for c in columns))


def main(argv):
    path = os.environ["FAKE_OPENSTACK_STATE"]
    with open(path) as f:
        state = json.load(f)
    state["calls"].append(argv)
    state["os_cloud"] = os.environ.get("OS_CLOUD")
    noun, verb, args = argv[0], argv[1], argv[2:]
    if (noun, verb) == ("service", "list"):
        opts, pos = options(args, {"-f", "-c"})
        show(state["services"], opts["-c"])
    elif (noun, verb) == ("service", "create"):
        opts, pos = options(args, {"--name", "--description"})
        if len(pos) != 1:
            raise SystemExit("openstack: service create takes one TYPE")
        state["services"].append({"ID": uuid.uuid4().hex, "Name": opts["--name"],
                                  "Type": pos[0]})
    elif (noun, verb) == ("endpoint", "list"):
        opts, pos = options(args, {"--service", "--interface", "--region", "-f", "-c"})
        rows = [e for e in state["endpoints"]
                if opts.get("--service") in (None, e["Service Name"], e["Service Type"])
                and opts.get("--interface") in (None, e["Interface"])
                and opts.get("--region") in (None, e["Region"])]
        show(rows, opts["-c"])
    elif (noun, verb) == ("endpoint", "create"):
        opts, pos = options(args, {"--region"})
        if len(pos) != 3:
            raise SystemExit("openstack: endpoint create takes SERVICE INTERFACE URL")
        service = next(s for s in state["services"] if pos[0] in (s["Name"], s["Type"]))
        state["endpoints"].append({
            "ID": uuid.uuid4().hex, "Region": opts.get("--region"),
            "Service Name": service["Name"], "Service Type": service["Type"],
            "Interface": pos[1], "URL": pos[2]})
    elif (noun, verb) == ("endpoint", "set"):
        opts, pos = options(args, {"--url"})
        endpoint = next(e for e in state["endpoints"] if e["ID"] == pos[0])
        endpoint["URL"] = opts["--url"]
    else:
        print(f"openstack: unknown command {noun} {verb}", file=sys.stderr)
        return 2
    with open(path, "w") as f:
        json.dump(state, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
