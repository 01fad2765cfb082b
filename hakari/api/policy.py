"""Who may do what: oslo.policy rules with Masakari's names and defaults.

Every rule of segments, hosts, notifications and vm moves defaults to
``rule:admin_api``, which is ``is_admin:True``, which holds when the caller's token has
the admin role (``context_is_admin``). A policy file ([oslo_policy] policy_file,
policy.yaml beside the configuration by default) overrides any rule by name, as it does
for Masakari, e.g. ``"os_masakari_api:notifications:create": "role:admin or
role:service"``.
"""

from __future__ import annotations

import dataclasses

from oslo_config import cfg
from oslo_policy import policy

from hakari.api.faults import ApiError
from hakari.display import one_line
from hakari.errors import ConfigError

ADMIN_API = "rule:admin_api"
SEGMENTS = "os_masakari_api:segments:%s"
HOSTS = "os_masakari_api:os-hosts:%s"
NOTIFICATIONS = "os_masakari_api:notifications:%s"
VMOVES = "os_masakari_api:vmoves:%s"
VERSIONS = "os_masakari_api:versions:%s"


def _rules(template: str, actions: tuple[str, ...], what: str) -> list:
    return [policy.RuleDefault(template % action, ADMIN_API, f"{what}: {action}")
            for action in actions]


RULES = (
    [policy.RuleDefault("context_is_admin", "role:admin",
                        "What makes a caller an administrator (is_admin:True)."),
     policy.RuleDefault("admin_or_owner", "is_admin:True or project_id:%(project_id)s",
                        "An administrator or the owner of the project."),
     policy.RuleDefault("admin_api", "is_admin:True",
                        "The default of every segment, host, notification and vm "
                        "move rule."),
     policy.RuleDefault(VERSIONS % "index", "@", "Show the API version (GET /v1).")]
    + _rules(SEGMENTS, ("index", "detail", "create", "update", "delete"), "Segments")
    + _rules(HOSTS, ("index", "detail", "create", "update", "delete"), "Hosts")
    + _rules(NOTIFICATIONS, ("index", "detail", "create"), "Notifications")
    + _rules(VMOVES, ("index", "detail"), "VM moves of a host notification"))


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request, as keystonemiddleware validated its token."""

    user_id: str
    project_id: str
    roles: tuple[str, ...]


def enforcer(conf: cfg.ConfigOpts) -> policy.Enforcer:
    """The rules, with the policy file read now: a broken one stops `hakari api` at
    start-up with one line instead of refusing every request."""
    e = policy.Enforcer(conf)
    e.register_defaults(RULES)
    try:
        e.load_rules()
    except Exception as err:  # noqa: BLE001 - oslo.policy raises many kinds for one file
        raise ConfigError(f"policy file: {one_line(err)}") from None
    return e


def authorize(e: policy.Enforcer, rule: str, caller: Caller) -> None:
    """ApiError 403 unless ``rule`` allows ``caller``."""
    creds = {"user_id": caller.user_id, "project_id": caller.project_id,
             "roles": list(caller.roles)}
    creds["is_admin"] = bool(e.authorize("context_is_admin", creds, creds))
    target = {"project_id": caller.project_id, "user_id": caller.user_id}
    if not e.authorize(rule, target, creds):
        raise ApiError(403, f"Policy doesn't allow {rule} to be performed.")
