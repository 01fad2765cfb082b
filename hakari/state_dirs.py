"""The directories hakari owns, made with their owners and modes and recorded in the
install manifest: what `hakari install` and the engine's start share (the layout is
hakari.paths; the installer, hakari.install, adds the agents and configuration).

Only what hakari created is hakari's: each directory it creates is recorded in the
manifest of the state directory, and only recorded ones are ever re-moded or re-owned.
"""

from __future__ import annotations

import dataclasses
import grp
import json
import os
import pwd
import stat

from hakari import paths
from hakari.errors import HakariError


class InstallError(HakariError):
    pass


@dataclasses.dataclass(frozen=True)
class Dir:
    path: str            # final path
    owner: str
    group: str
    mode: int


def state_dirs(state_dir: str) -> tuple[Dir, ...]:
    user, group = paths.CLUSTER_USER, paths.CLUSTER_GROUP
    return (
        Dir(state_dir, "root", group, 0o750),
        Dir(paths.spool_dir(state_dir), user, group, 0o750),
        # The alert (hacluster, group haclient) looks here for events already handled.
        Dir(paths.done_dir(state_dir), "root", group, 0o750),
        Dir(paths.quarantine_dir(state_dir), "root", "root", 0o750),
    )


def under(prefix: str, path: str) -> str:
    """Where the final path ``path`` is when installing below ``prefix``."""
    return os.path.join(prefix, path.lstrip("/"))


@dataclasses.dataclass
class Manifest:
    """The directories and files hakari created (final paths, without the prefix).

    Kept in the state directory, which survives an uninstall without --purge, so a later
    purge still knows what is hakari's. A path missing from it is not hakari's.
    """
    dirs: list[str] = dataclasses.field(default_factory=list)
    files: list[str] = dataclasses.field(default_factory=list)

    MAX_BYTES = 1 << 20

    @classmethod
    def load(cls, path: str) -> "Manifest":
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return cls()
        except OSError as err:
            raise InstallError(f"{path}: cannot read: {err.strerror or err}") from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise InstallError(f"{path}: not a regular file")
            data = f.read(cls.MAX_BYTES + 1)
        try:
            doc = json.loads(data)
            dirs, files = doc["dirs"], doc["files"]
            if not all(isinstance(p, str) for p in [*dirs, *files]):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise InstallError(f"{path}: not an install manifest hakari wrote; move it "
                               "away to continue") from None
        return cls(list(dirs), list(files))

    def save(self, path: str) -> None:
        data = json.dumps({"dirs": sorted(set(self.dirs)), "files": sorted(set(self.files))},
                          indent=1) + "\n"
        tmp = f"{path}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


# -- doing it ---------------------------------------------------------------------------

class DirMaker:
    """Creates directories below ``prefix``, recording them in the state directory's
    manifest; the base of hakari.install.Installer."""

    def __init__(self, prefix: str = "/", report=print):
        self.prefix = prefix
        self.report = report
        self.root = os.geteuid() == 0
        self.warned_chown = False
        self.manifest = Manifest()
        self._manifest_path: str | None = None

    def under(self, path: str) -> str:
        return under(self.prefix, path)

    def open_manifest(self, state_dir: str) -> None:
        """Use the manifest of state_dir, keeping what this run recorded so far."""
        path = self.under(paths.install_manifest(state_dir))
        if path == self._manifest_path:
            return
        loaded = Manifest.load(path)
        loaded.dirs += self.manifest.dirs
        loaded.files += self.manifest.files
        self.manifest, self._manifest_path = loaded, path
        self._save_manifest()

    def _save_manifest(self) -> None:
        # Only once the state directory exists: until then what was created is kept in
        # memory, and the state directory's own creation is recorded with the rest.
        if self._manifest_path and os.path.isdir(os.path.dirname(self._manifest_path)) \
                and (self.manifest.dirs or self.manifest.files):
            self.manifest.save(self._manifest_path)

    def directory(self, d: Dir) -> None:
        """Create d if missing (recorded); fix the mode and owner only of a directory
        hakari created. Anything else is used as it is, unless others can write it."""
        target = self.under(d.path)
        _check_ancestors(target)
        if os.path.islink(target) or (os.path.exists(target) and not os.path.isdir(target)):
            raise InstallError(f"{target} exists and is not a directory")
        if not os.path.isdir(target):
            self._make_dirs(d.path)
            self.report(f"created {target}")
        if d.path not in self.manifest.dirs:
            problem = paths.dir_mode_problem(os.stat(target))
            if problem:
                raise InstallError(f"{target} is {problem} and was not created by "
                                   "hakari install: refusing to use it")
            return
        if stat.S_IMODE(os.stat(target).st_mode) != d.mode:
            os.chmod(target, d.mode)
            self.report(f"fixed mode of {target} to {d.mode:04o}")
        self.own(target, d.owner, d.group)

    def _make_dirs(self, path: str) -> None:
        missing = []
        while not os.path.isdir(self.under(path)):
            missing.append(path)
            path = os.path.dirname(path)
        for path in reversed(missing):
            os.mkdir(self.under(path), 0o755)
            # A system directory made in an empty prefix is the system's, not hakari's.
            if paths.own_dir_problem(path) is None:
                self.manifest.dirs.append(path)
        self._save_manifest()

    def own(self, target: str, owner: str, group: str) -> None:
        if not self.root:
            if not self.warned_chown:
                self.report("warning: not root: owners and groups left as they are")
                self.warned_chown = True
            return
        uid, gid = _uid(owner), _gid(group)
        st = os.lstat(target)
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.chown(target, uid, gid, follow_symlinks=False)


def make_state_dirs(state_dir: str, report=lambda _msg: None) -> None:
    """Create whichever of the state directory and spool directories is missing, with
    the installer's owners and modes, recorded in its manifest. Existing ones that
    hakari did not create are left as they are."""
    maker = DirMaker(report=report)
    maker.open_manifest(state_dir)
    for d in state_dirs(state_dir):
        maker.directory(d)


# -- helpers ----------------------------------------------------------------------------

def _check_ancestors(target: str) -> None:
    """Refuse to manage a path below a directory anyone can rename things in."""
    path = os.path.dirname(os.path.abspath(target))
    while True:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None and st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
            raise InstallError(f"{path} is world-writable: refusing to install below it")
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def _uid(name: str) -> int:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        raise InstallError(f"no user {name!r} (is Pacemaker installed?)") from None


def _gid(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise InstallError(f"no group {name!r} (is Pacemaker installed?)") from None
