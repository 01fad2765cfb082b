"""hakari's imports: no cycles, and a function-local import only where a measured
start-up budget needs it (each allowed one below, with its budget)."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import hakari
from hakari.commands import COMMANDS

PACKAGE = pathlib.Path(hakari.__file__).parent

PARSER = ("`hakari` imports every command module to build its parser (60 ms for "
          "--help); this would add {}")
CIB = PARSER.format("lxml and the cluster tools: 12-15 ms each, 27 ms together")
OPENSTACK = PARSER.format("openstacksdk: 0.2-0.3 s")
# Importing module -> (the modules it may import inside a function, why).
LAZY = {
    "hakari.commands": ({"hakari.config"}, PARSER.format("oslo.config: 35 ms")),
    "hakari.commands.api": (
        {"hakari.api.server", "hakari.api.wiring"},
        PARSER.format("the api extra (keystonemiddleware, oslo.policy, SQLAlchemy, WebOb) "
                      "with openstacksdk: 0.9 s; the extra may not be installed at all")),
    "hakari.commands.apply_cib": ({"hakari.cluster_config.cib_apply"}, CIB),
    "hakari.commands.engine": ({"hakari.engine.wiring"}, OPENSTACK),
    "hakari.commands.evacuate": ({"hakari.recovery.host.manual"}, OPENSTACK),
    "hakari.commands.hold": ({"hakari.operator"}, CIB),
    "hakari.commands.incidents": (
        {"hakari.holds", "hakari.cluster.attributes", "hakari.records.failures",
         "hakari.records.history", "hakari.records.store"}, CIB),
    "hakari.commands.install": ({"hakari.install"},
                                PARSER.format("oslo.config's sample generator: 55 ms")),
    "hakari.commands.notify": (
        {"hakari.nova.client", "hakari.records.failures",
         "hakari.recovery.process.recovery"}, OPENSTACK),
    "hakari.commands.recover_instance": (
        {"hakari.nova.client", "hakari.records.failures", "hakari.records.store",
         "hakari.recovery.instance.recovery"}, OPENSTACK),
    "hakari.commands.release": ({"hakari.operator"}, CIB),
    "hakari.commands.render": ({"hakari.cluster_config.render", "hakari.cluster_config.schema"},
                               PARSER.format("jinja2, yaml, lxml and oslo.config: 75 ms")),
    "hakari.commands.retry": ({"hakari.operator"}, CIB),
    "hakari.commands.status": ({"hakari.holds", "hakari.cluster.cib_status",
                                "hakari.cluster.crm_mon", "hakari.cluster.live"},
                               CIB),
    "hakari.commands.unhold": ({"hakari.operator"}, CIB),
    "hakari.nova.cloud": (
        {"keystoneauth1", "openstack", "openstack.config"},
        "cloud_name, run by every evacuator start and fence_hakari validate-all, needs no "
        "openstacksdk: importing it costs 0.3 s"),
    "hakari.resource_agents.subcommand": (
        {"hakari.nova.client"},
        "the agents' start and monitor (every 10 s) do not reach Nova: openstacksdk "
        "takes them from 0.08 s to 0.27 s"),
}
# What the parser of `hakari` must not pull in (the budgets above).
SLOW = ("openstack", "oslo_config", "lxml", "jinja2", "yaml")


def _modules() -> tuple[dict[str, ast.Module], set[str]]:
    found, packages = {}, set()
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("hakari", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
            packages.add(".".join(parts))
        found[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return found, packages


MODULES, PACKAGES = _modules()


def _targets(name: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement in module ``name`` imports (``from X import y``
    imports X.y when that is a module of hakari's, else X)."""
    if isinstance(node, ast.Import):
        return sorted({alias.name for alias in node.names})
    base = node.module or ""
    if node.level:
        package = name if name in PACKAGES else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return sorted({f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                   for alias in node.names})


def _imports(tree: ast.Module):
    """(import statement, at module level?) for every import in the module."""
    top: set[int] = set()

    def module_level(body) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                top.add(id(stmt))
            elif isinstance(stmt, (ast.If, ast.Try)):
                for block in (stmt.body, stmt.orelse, getattr(stmt, "finalbody", []),
                              *[h.body for h in getattr(stmt, "handlers", [])]):
                    module_level(block)

    module_level(tree.body)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, id(node) in top


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, tree in MODULES.items():
        for node, top in _imports(tree):
            if top:
                graph[name].update(t for t in _targets(name, node) if t in MODULES)
    # The one import by name (importlib): the parser is built from every command module.
    graph["hakari.cli"].update(f"hakari.commands.{c}" for c in COMMANDS)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module
    (or a module importing itself), as a path that ends where it starts."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:
        start = min(component)
        path, seen = [start], {start}
        while True:   # walk inside the component until it closes
            nxt = sorted(w for w in graph[path[-1]] if w in component)
            back = [w for w in nxt if w in seen]
            if back:
                path = path[path.index(back[0]):] + [back[0]]
                break
            path.append(nxt[0])
            seen.add(nxt[0])
        cycles.append(path)
    return cycles


def test_cycle_finder_names_the_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_function_local_imports_only_where_a_budget_needs_them():
    unexpected, used = [], set()
    for name, tree in MODULES.items():
        for node, top in _imports(tree):
            if top:
                continue
            for target in _targets(name, node):
                allowed = LAZY.get(name, (set(), ""))[0]
                if target in allowed:
                    used.add((name, target))
                else:
                    unexpected.append(f"{name}:{node.lineno} imports {target}")
    assert not unexpected, ("imports inside functions without a measured budget in "
                            "LAZY (move them to the top): " + "; ".join(unexpected))
    stale = sorted(f"{n} -> {t}" for n, (ts, _) in LAZY.items() for t in ts
                   if (n, t) not in used)
    assert not stale, "LAZY allows imports nobody makes: " + "; ".join(stale)


def test_hakari_parser_imports_nothing_slow():
    code = ("import sys; from hakari import cli; cli.build_parser(); "
            f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {SLOW!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True).stdout.split()
    assert out == [], f"`hakari --help` imports {out}"
