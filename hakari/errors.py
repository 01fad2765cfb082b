"""Exceptions that carry a one-line, operator-facing message.

The CLI turns any HakariError into ``hakari: error: <message>`` and its exit code;
anything else escaping is a bug.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class HakariError(Exception):
    """Base class: ``str(err)`` is the whole message an operator sees."""

    exit_code = EXIT_USAGE


class ConfigError(HakariError):
    """The configuration file or an option value is unusable."""


class ParseError(HakariError):
    """A document from a cluster tool (or a saved file) could not be understood."""


class ToolError(HakariError):
    """Running an external tool failed."""

    def __init__(self, message, argv=None, returncode=None, stderr=""):
        super().__init__(message)
        self.argv = list(argv or [])
        self.returncode = returncode
        self.stderr = stderr


class ToolNotFound(ToolError):
    """The executable is not installed or not on PATH."""


class ToolTimeout(ToolError):
    """The tool did not finish within its timeout and was killed."""


class ToolFailed(ToolError):
    """The tool exited with a status its caller does not accept."""


class ClusterNotConnected(ToolFailed):
    """The tool could not reach the cluster stack (Pacemaker exit 102)."""
