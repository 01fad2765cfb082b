"""Put hakari where Pacemaker looks for it, and the state directory in place.

What goes where (paths below ``prefix``; launchers run this Python, or ``--python``):

    <ocf_root>/resource.d/hakari/evacuator       ocf:hakari:evacuator       0755
    <ocf_root>/resource.d/hakari/compute-guard   ocf:hakari:compute-guard   0755
    <ocf_root>/resource.d/hakari/api             ocf:hakari:api             0755
    /usr/sbin/fence_hakari                       the fence agent            0755
    /usr/libexec/hakari/alert                    the alert agent            0755
    /etc/hakari/                  root:haclient 0750; hakari.conf.sample refreshed,
                                  hakari.conf (0640) created from it only if missing
    <state_dir>/                  root:haclient 0750   the engine's
    <state_dir>/spool/            hacluster:haclient 0750   written by the alert
    <state_dir>/spool-done/       root:haclient 0750   read by the alert (duplicates)
    <state_dir>/spool-quarantine/ root:root 0750
    <state_dir>/install.json      root 0640            what was created (the manifest)
    /var/log/hakari/              root:root 0750       the engine's log

Only what hakari created is hakari's: each directory and file it creates is recorded in
the manifest, and only recorded paths are ever re-moded, re-owned or purged. A directory
that was there before (``/etc`` for ``--config-file /etc/hakari.conf``, a state
directory an operator made) is used as it is; system directories are never taken over
(hakari.paths.own_dir_problem), whatever the manifest says.

A launcher is a few lines of Python that puts hakari's location first on sys.path and
calls the agent's main(): no shell in between. The alert's runs ``-I -S`` (no
site-packages scan: half of Python's start-up) since it needs only the standard library.
Everything is idempotent; nothing it did not install is overwritten without ``force``.
Run as root it then checks that hacluster can run the alert and nobody the meta-data
(what Pacemaker and ocf-tester need): an interpreter under /root, say, is unusable.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig

from oslo_config import cfg, generator

from hakari import __version__, paths
from hakari.alerts.statedir import StateDirError, read_state_dir
from hakari.state_dirs import Dir, DirMaker, InstallError, state_dirs, under

MARKER = "# Installed by hakari"
CHECK_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class Launcher:
    path: str            # final path (below the prefix)
    module: str
    fast: bool = False   # -I -S, standard library only (the alert)


@dataclasses.dataclass(frozen=True)
class Plan:
    prefix: str = "/"
    ocf_root: str = paths.OCF_ROOT
    config_file: str = paths.DEFAULT_CONFIG_FILE
    python: str = sys.executable
    package_parent: str = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Where this environment's dependencies live, for an interpreter (--python) that
    # would not find them by itself.
    extra_paths: tuple[str, ...] = ()

    def under(self, path: str) -> str:
        return under(self.prefix, path)

    @property
    def ocf_dir(self) -> str:
        return f"{self.ocf_root.rstrip('/')}/resource.d/{paths.OCF_PROVIDER}"

    @property
    def launchers(self) -> tuple[Launcher, ...]:
        return (
            Launcher(f"{self.ocf_dir}/evacuator", "hakari.resource_agents.evacuator"),
            Launcher(f"{self.ocf_dir}/compute-guard", "hakari.resource_agents.compute_guard"),
            # `hakari api` itself needs the api extra; its agent (meta-data, stop) does not.
            Launcher(f"{self.ocf_dir}/api", "hakari.resource_agents.api"),
            Launcher(paths.FENCE_AGENT_PATH, "hakari.resource_agents.fence_hakari"),
            Launcher(paths.ALERT_AGENT_PATH, "hakari.alerts.agent", fast=True),
        )


def make_plan(prefix: str = "/", python: str | None = None, ocf_root: str | None = None,
              config_file: str | None = None) -> Plan:
    python = os.path.abspath(python or sys.executable)
    if any(ch.isspace() for ch in python) or len(python) > 200:
        raise InstallError(f"{python}: a launcher's #! line cannot name this interpreter "
                           "(spaces or too long)")
    config_file = config_file or paths.DEFAULT_CONFIG_FILE
    if not config_file.startswith("/") or os.path.normpath(config_file) != config_file:
        # A relative name would be taken relative to the prefix here but to the working
        # directory by everything else, and its directory could be the prefix itself.
        raise InstallError(f"--config-file {config_file}: give hakari.conf's absolute "
                           "path, written plainly (no '.', '..' or '//')")
    extra: tuple[str, ...] = ()
    if os.path.realpath(python) != os.path.realpath(sys.executable):
        _same_python_version(python)
        extra = tuple(dict.fromkeys(
            sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    return Plan(prefix=os.path.abspath(prefix),
                ocf_root=ocf_root or os.environ.get("OCF_ROOT") or paths.OCF_ROOT,
                config_file=config_file, python=python, extra_paths=extra)


# -- pure: what the files contain -------------------------------------------------------

def render_launcher(plan: Plan, launcher: Launcher) -> str:
    if launcher.fast:
        return (
            f"#!{plan.python} -IS\n"
            f"{MARKER} install {__version__}: do not edit, run it again.\n"
            "# -I -S: no environment, no site-packages scan: an alert must start fast and\n"
            "# needs only the standard library and hakari.\n"
            "import sys\n"
            f"sys.path.insert(0, {plan.package_parent!r})\n"
            f"from {launcher.module} import main\n"
            "sys.exit(main())\n")
    front = [plan.package_parent, *plan.extra_paths]
    return (
        f"#!{plan.python} -I\n"
        f"{MARKER} install {__version__}: do not edit, run it again.\n"
        "import sys\n"
        f"sys.path[0:0] = {front!r}\n"
        f"from {launcher.module} import main\n"
        "sys.exit(main())\n")


def managed_dirs(plan: Plan, state_dir: str) -> tuple[Dir, ...]:
    return (
        Dir(plan.ocf_dir, "root", "root", 0o755),
        Dir(os.path.dirname(paths.ALERT_AGENT_PATH), "root", "root", 0o755),
        Dir(os.path.dirname(plan.config_file), "root", paths.CLUSTER_GROUP, 0o750),
        *state_dirs(state_dir),
        Dir(paths.LOG_DIR, "root", "root", 0o750),
    )


def sample_config() -> str:
    """hakari.conf.sample, as `make sample-config` generates it."""
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(args=["--namespace", "hakari", "--wrap-width", "79"])
    out = io.StringIO()
    try:
        generator.generate(conf, output_file=out)
    except Exception as err:  # noqa: BLE001 - stevedore's errors have no common base
        raise InstallError(f"cannot generate hakari.conf.sample (is hakari installed "
                           f"with pip?): {err}") from None
    return out.getvalue()


# -- doing it ---------------------------------------------------------------------------

class Installer(DirMaker):
    def __init__(self, plan: Plan, force: bool = False, report=print):
        super().__init__(plan.prefix, report)
        self.plan = plan
        self.force = force

    def install(self) -> str:
        """Install everything; returns the state directory used."""
        self.open_manifest(self.expected_state_dir())
        self.config()
        state_dir = self.state_dir()
        self.open_manifest(state_dir)  # a hakari.conf already there may name another
        for d in managed_dirs(self.plan, state_dir):
            self.directory(d)
        for launcher in self.plan.launchers:
            self.launcher(launcher)
        return state_dir

    def expected_state_dir(self) -> str:
        """The state directory before hakari.conf may exist: a new one is the sample,
        which leaves state_dir at its default."""
        if os.path.lexists(self.plan.under(self.plan.config_file)):
            return self.state_dir()
        return paths.DEFAULT_STATE_DIR

    def config(self) -> None:
        conf_dir = os.path.dirname(self.plan.config_file)
        self.directory(Dir(conf_dir, "root", paths.CLUSTER_GROUP, 0o750))
        sample = sample_config()
        self.file(self.plan.config_file + ".sample", sample, 0o640, "root",
                  paths.CLUSTER_GROUP)
        target = self.plan.under(self.plan.config_file)
        if os.path.lexists(target):
            self.report(f"kept {target}")
        else:
            self.file(self.plan.config_file, sample, 0o640, "root", paths.CLUSTER_GROUP)

    def state_dir(self) -> str:
        try:
            # The reader the alert uses: if it cannot find the state directory, the
            # alerts will not either, and that must fail now, not at the first event.
            return read_state_dir(self.plan.under(self.plan.config_file))
        except StateDirError as err:
            raise InstallError(str(err)) from None

    def launcher(self, launcher: Launcher) -> None:
        target = self.plan.under(launcher.path)
        if os.path.lexists(target) and not self.force and not _ours(target):
            raise InstallError(f"{target} exists and was not installed by hakari; remove "
                               "it or use --force")
        self.file(launcher.path, render_launcher(self.plan, launcher), 0o755, "root", "root")

    def file(self, path: str, content: str, mode: int, owner: str, group: str) -> None:
        target = self.plan.under(path)
        try:
            with open(target, encoding="utf-8") as f:
                same = f.read() == content
        except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError):
            same = False
        if not same:
            if not os.path.isdir(os.path.dirname(target)):
                self._make_dirs(os.path.dirname(path))
            created = not os.path.lexists(target)
            tmp = f"{target}.tmp.{os.getpid()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                         | os.O_CLOEXEC, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(content)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
            if created:
                self.manifest.files.append(path)
                self._save_manifest()
            self.report(f"installed {target}")
        elif stat.S_IMODE(os.stat(target).st_mode) != mode:
            os.chmod(target, mode)
            self.report(f"fixed mode of {target} to {mode:04o}")
        self.own(target, owner, group)

    # -- undoing it ----------------------------------------------------------------------

    def uninstall(self, purge: bool = False) -> None:
        if purge:
            self.open_manifest(self.expected_state_dir())
        for launcher in self.plan.launchers:
            target = self.plan.under(launcher.path)
            if not os.path.lexists(target):
                continue
            if not _ours(target) and not self.force:
                self.report(f"left {target}: not installed by hakari")
                continue
            os.unlink(target)
            self.report(f"removed {target}")
        for d in (self.plan.ocf_dir, os.path.dirname(paths.ALERT_AGENT_PATH)):
            target = self.plan.under(d)
            try:
                os.rmdir(target)
                self.report(f"removed {target}")
            except OSError:
                pass
        if purge:
            self.purge()

    def purge(self) -> None:
        """Remove what the manifest says hakari created, and nothing else."""
        if not self.manifest.dirs and not self.manifest.files:
            self.report(f"nothing to purge: no install manifest at {self._manifest_path} "
                        "(hakari removes only what it recorded creating)")
            return
        for path in sorted(set(self.manifest.files)):
            target = self.plan.under(path)
            if os.path.isfile(target) and not os.path.islink(target):
                os.unlink(target)
                self.report(f"removed {target}")
        removed: list[str] = []
        # Shallowest first: a directory inside one already removed is gone with it.
        for path in sorted(set(self.manifest.dirs), key=lambda p: (p.count("/"), p)):
            if any(path.startswith(r.rstrip("/") + "/") for r in removed):
                continue
            target = self.plan.under(path)
            problem = paths.own_dir_problem(path)
            if problem is not None:
                self.report(f"left {target}: {problem}")
                continue
            if os.path.isdir(target) and not os.path.islink(target):
                # rmtree works through directory descriptors and never follows links.
                shutil.rmtree(target)
                self.report(f"removed {target}")
            removed.append(path)
        if self._manifest_path and os.path.lexists(self._manifest_path):
            os.unlink(self._manifest_path)

    # -- checking it ---------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Run the installed agents as the users Pacemaker and ocf-tester use; the
        problems found. Needs root (to switch users); skipped otherwise."""
        if not self.root:
            self.report("warning: not root: cannot check the agents as hacluster/nobody")
            return []
        problems = []
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        alert = self.plan.under(paths.ALERT_AGENT_PATH)
        # A well-formed alert of a kind hakari ignores: imports everything, spools nothing.
        problems += _check([alert], paths.CLUSTER_USER, paths.CLUSTER_GROUP,
                           {**env, "CRM_alert_kind": "hakari_install_check"},
                           f"{paths.CLUSTER_USER} cannot run the alert agent")
        for launcher in self.plan.launchers:
            if not launcher.path.startswith(self.plan.ocf_dir + "/"):
                continue
            problems += _check([self.plan.under(launcher.path), "meta-data"], "nobody",
                               None, env, f"nobody cannot run {launcher.path} meta-data",
                               expect=b"<resource-agent")
        problems += _check([self.plan.under(paths.FENCE_AGENT_PATH), "-o", "metadata"],
                           None, None, env, "fence_hakari -o metadata failed",
                           expect=b"<resource-agent")
        if problems and os.path.realpath(self.plan.python) == os.path.realpath(sys.executable):
            problems.append(f"the launchers run {self.plan.python}; pass --python with an "
                            "interpreter of the same version those users can run "
                            "(e.g. /usr/bin/python3)")
        return problems


def install_fence_agent(python: str | None = None, prefix: str = "/") -> str:
    """Just /usr/sbin/fence_hakari (the labs' fencing chain needs nothing else)."""
    plan = make_plan(prefix=prefix, python=python)
    launcher = next(l for l in plan.launchers if l.path == paths.FENCE_AGENT_PATH)
    Installer(plan, force=True, report=lambda _msg: None).launcher(launcher)
    return plan.under(launcher.path)


# -- helpers ----------------------------------------------------------------------------

def _ours(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return MARKER.encode() in head


def _same_python_version(python: str) -> None:
    try:
        out = subprocess.run([python, "-I", "-S", "-c",
                              "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, timeout=CHECK_TIMEOUT, check=True).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise InstallError(f"{python}: cannot run it: {err}") from None
    want = "%d.%d" % sys.version_info[:2]
    if out.decode().strip() != want:
        raise InstallError(f"{python} is Python {out.decode().strip()}; hakari's "
                           f"dependencies here are for Python {want}")


def _check(argv, user, group, env, what, expect: bytes | None = None) -> list[str]:
    kwargs = {}
    if user is not None:
        kwargs = {"user": user, "group": group or pwd.getpwnam(user).pw_gid,
                  "extra_groups": []}
    try:
        res = subprocess.run(argv, env=env, capture_output=True, timeout=CHECK_TIMEOUT,
                             cwd="/", **kwargs)
    except (OSError, subprocess.SubprocessError, KeyError) as err:
        return [f"{what}: {err}"]
    if res.returncode != 0 or (expect is not None and expect not in res.stdout):
        detail = (res.stderr or res.stdout).decode("utf-8", "replace").strip()
        detail = detail.splitlines()[-1] if detail else f"exit status {res.returncode}"
        return [f"{what}: {detail[:300]}"]
    return []
