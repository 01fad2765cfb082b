#!/usr/bin/env python3
"""Benchmark: hakari's crm_mon parser side by side with masakari-monitors' host monitor.

Prints JSON. masakari-monitors (from PyPI) is installed into a throwaway venv of its own:
its host monitor's `parse_crmmon_xml` module needs only oslo.log and pbr, so those are
installed with it and masakari-monitors itself with --no-deps (its other dependencies are
never imported by that module). The measuring child runs in that venv with this repository
on sys.path (hakari's parser needs only lxml, pinned to the version hakari's venv has), so
both parsers run in one process on the very same bytes, interleaved, like bench/parse.py.

What each side does per document (they are not equal work; the report says so):
  * hakari: parse_crm_mon(data) -> full snapshot (nodes with states, DC, quorum, guest
    placement, fence history), hardened lxml parser;
  * masakari-monitors: ParseCrmMonXml.set_crmmon_xml(data), has_quorum(),
    get_node_state_tag_list() -- what its host monitor calls each cycle (stdlib
    ElementTree, then the <node> elements are handed on raw).

Usage: bench/peer_masakari.py [--sizes 1024,4096] [--seconds 2] [--venv DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
PEER = "masakari-monitors"


def _pip(venv: pathlib.Path, *args: str, timeout: float) -> None:
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", *args],
                         capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(args)}: {res.stderr.strip()[-800:]}")


def make_venv(venv: pathlib.Path) -> None:
    from lxml import etree  # the version hakari's own venv runs, so the lxml side matches

    lxml_version = etree.__version__
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    _pip(venv, f"lxml=={lxml_version}", "oslo.log", "pbr", timeout=600)
    # --no-deps: the module measured imports only oslo.log (and pbr for the package's
    # __version__); the rest of masakari-monitors' requirements are for other parts.
    _pip(venv, "--no-deps", PEER, timeout=300)


def _median_time(fn, data: bytes, budget: float) -> tuple[float, int]:
    fn(data)  # warm-up
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 2000):
        t0 = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def child(sizes: list[int], seconds: float) -> int:
    """Runs inside the peer venv: time both parsers on the same generated documents."""
    import importlib.metadata

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    import logging

    # oslo.log's LOG.error on a document without nodes would print; none of ours lacks them.
    logging.disable(logging.CRITICAL)
    from masakarimonitors.hostmonitor.host_handler.parse_crmmon_xml import ParseCrmMonXml

    import parse as gen  # bench/parse.py: the same generator as the parse benchmark
    from hakari.cluster.crm_mon import parse_crm_mon

    def masakari(data: bytes):
        p = ParseCrmMonXml()
        p.set_crmmon_xml(data)
        return p.has_quorum(), p.get_node_state_tag_list()

    results = []
    for n in sizes:
        data = gen.generate(n)
        quorum, nodes = masakari(data)
        snap = parse_crm_mon(data)
        # Same input, same answer on what both extract: node count and quorum.
        assert len(nodes) == len(snap.nodes) and quorum == snap.quorate, (n, len(nodes))
        ours, theirs = [], []
        runs = 0
        for _ in range(5):  # interleaved rounds: load drift hits both alike
            for fn, sink in ((parse_crm_mon, ours), (masakari, theirs)):
                m, k = _median_time(fn, data, seconds / 5)
                sink.append(m)
                runs += k
        t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
        results.append({"nodes": len(snap.nodes), "bytes": len(data),
                        "hakari_parse_crm_mon_ms": round(t_ours * 1e3, 4),
                        "hakari_round_medians_ms": [round(x * 1e3, 4) for x in ours],
                        "masakari_ms": round(t_theirs * 1e3, 4),
                        "masakari_round_medians_ms": [round(x * 1e3, 4) for x in theirs],
                        "ratio_hakari_over_masakari": round(t_ours / t_theirs, 3),
                        "runs": runs})
    print(json.dumps({
        "benchmark": "peer: hakari parse_crm_mon vs masakari-monitors ParseCrmMonXml",
        "peer": PEER, "peer_version": importlib.metadata.version(PEER),
        "peer_module": "masakarimonitors.hostmonitor.host_handler.parse_crmmon_xml",
        "peer_work": "ElementTree.fromstring + has_quorum() + get_node_state_tag_list()",
        "hakari_work": "parse_crm_mon: full snapshot incl. node states and fence history",
        "results": results,
    }, indent=2))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1024,4096")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--venv", type=pathlib.Path,
                    help="reuse (or create) the peer venv here instead of a throwaway one")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.child:
        return child(sizes, args.seconds)
    tmp = None
    venv = args.venv
    try:
        if venv is None:
            tmp = pathlib.Path(tempfile.mkdtemp(prefix="hakari-peer-"))
            venv = tmp / "venv"
        if not (venv / "bin" / "python").exists():
            try:
                make_venv(venv)
            except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                # Said plainly in the report rather than faked.
                print(json.dumps({"benchmark": "peer", "peer": PEER,
                                  "unavailable": f"could not install {PEER}: {e}"}))
                return 0
        res = subprocess.run(
            [str(venv / "bin" / "python"), str(pathlib.Path(__file__).resolve()), "--child",
             "--sizes", args.sizes, "--seconds", str(args.seconds)],
            capture_output=True, text=True, timeout=1800, cwd=REPO,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        if res.returncode != 0:
            print(json.dumps({"benchmark": "peer", "peer": PEER,
                              "unavailable": f"peer child failed: {res.stderr.strip()[-800:]}"}))
            return 0
        sys.stdout.write(res.stdout)
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
