"""Every hakari option, grouped, each with help text; ``list_opts()`` for the generator.

Options are registered on a fresh ``ConfigOpts`` by ``load()`` so that tests and the
long-running engine never share mutable global state.
"""

from __future__ import annotations

import os

from oslo_config import cfg, types

from hakari import paths
from hakari.config_api import api_group, api_opts
from hakari.display import one_line
from hakari.errors import ConfigError

DEFAULT_CONFIG_FILE = paths.DEFAULT_CONFIG_FILE

default_opts = [
    cfg.StrOpt(
        "state_dir",
        default=paths.DEFAULT_STATE_DIR,
        help="Directory for hakari's local state: the incident journal, the engine's "
        "heartbeat and the alert spool (spool/, the one place the hacluster user "
        "writes). `hakari install` creates it; it must not be writable by others, and it "
        "must be hakari's own directory, not a system one such as /var/lib or /tmp. "
        "Write it as a literal absolute path on one line: the alert agent reads it "
        "without oslo.config, and refuses $ interpolation."),
]

cluster_group = cfg.OptGroup(
    "cluster", title="Pacemaker/Corosync",
    help="How hakari reads the cluster it runs in.")

cluster_opts = [
    cfg.FloatOpt(
        "tool_timeout", default=30.0, min=1.0,
        help="Seconds any Pacemaker tool (cibadmin, stonith_admin, crm_attribute, "
        "crm_node) may run "
        "before it is killed and the call counts as failed."),
    cfg.FloatOpt(
        "reconcile_interval", default=5.0, min=0.5,
        help="Seconds between two full reads of the cluster state by the engine. A lost "
        "alert delays recovery by at most this long."),
    cfg.ListOpt(
        "compute_nodes", default=[],
        help="Pacemaker node names that are Nova compute hosts. Empty means every "
        "remote node (pacemaker_remote) is a compute host and members are not."),
    cfg.DictOpt(
        "node_map", default={},
        help="Pacemaker node name to Nova compute host name, for clouds whose Nova uses "
        "other names (often FQDNs), e.g. 'compute1:compute1.example.com'. Unlisted "
        "names map to themselves, or through node_domain."),
    cfg.StrOpt(
        "node_domain", default="",
        help="If set, a Pacemaker node name with no entry in node_map maps to "
        "'<name>.<node_domain>' in Nova."),
]

fencing_group = cfg.OptGroup(
    "fencing", title="Fencing proof",
    help="When hakari accepts that a lost host is fenced.")

fencing_opts = [
    cfg.FloatOpt(
        "clock_skew", default=2.0, min=0.0, max=60.0,
        help="Seconds a fence completion may precede the moment the host was seen lost "
        "and still count, to absorb clock differences between cluster nodes. Keep it "
        "small: a larger value lets an earlier, unrelated fencing prove a new loss."),
    cfg.FloatOpt(
        "confirm_timeout", default=300.0, min=0.0,
        help="Seconds to wait for a successful fence event after a host is lost before "
        "the incident is reported FENCE_FAILED. hakari keeps waiting afterwards; it "
        "never evacuates without the proof."),
]

recovery_group = cfg.OptGroup(
    "recovery", title="Evacuation",
    help="How instances of a fenced host are moved.")

recovery_opts = [
    cfg.IntOpt(
        "max_parallel", default=32, min=1,
        help="Evacuations in flight at once, across all hosts."),
    cfg.IntOpt(
        "max_parallel_per_host", default=16, min=1,
        help="Evacuations in flight at once from one failed host."),
    cfg.FloatOpt(
        "delay", default=0.0, min=0.0,
        help="Seconds to wait after fencing is confirmed before evacuating, e.g. to let "
        "shared storage settle. Force-down happens immediately regardless."),
    cfg.IntOpt(
        "max_attempts", default=3, min=1,
        help="Evacuation attempts per instance before it is reported failed."),
    cfg.FloatOpt(
        "verify_timeout", default=600.0, min=1.0,
        help="Seconds an evacuation may take to reach done/completed before the "
        "attempt counts as failed."),
    cfg.IntOpt(
        "mass_failure_max_hosts", default=0, min=0,
        help="Block recovery (state BLOCKED) when more than this many compute hosts are "
        "lost at once; 0 disables this count check."),
    cfg.IntOpt(
        "mass_failure_max_percent", default=50, min=0, max=100,
        help="Block recovery when more than this share of compute hosts is lost at "
        "once; likely a network partition rather than dead hosts. 100 disables it. "
        "The default still recovers one lost host out of three."),
    cfg.FloatOpt(
        "mass_failure_window", default=90.0, min=0.0,
        help="Seconds within which lost compute hosts count together for the "
        "mass-failure limits: every host lost in the last this-many seconds whose "
        "incident is not over (recovering, evacuated, blocked or failed alike) counts, "
        "so a rack losing power host by host over a minute trips the brake like one "
        "that fails at once. When the brake trips, recoveries of those hosts still "
        "under way stop (evacuations already sent finish) and they go BLOCKED with the "
        "others. Hosts an operator released are never stopped again. To be sure no "
        "host of a failing rack is evacuated at all, set [recovery] delay to at least "
        "this window (at the cost of that much latency on every recovery)."),
    cfg.BoolOpt(
        "stop_at_destination", default=False,
        help="Leave evacuated instances stopped at the destination (Nova microversion "
        "2.95). By default hakari keeps each instance's power state."),
    cfg.BoolOpt(
        "mass_failure_per_aggregate", default=True,
        help="Apply mass_failure_max_percent within each host aggregate too: losing "
        "more than that share of one aggregate's computes at once blocks recovery of "
        "the hosts in it, even when the cloud as a whole is below the threshold."),
    cfg.FloatOpt(
        "poll_interval", default=0.5, min=0.05, max=30.0,
        help="Seconds between two looks at a failed host's evacuation migrations (one "
        "call per host, not per instance). Lower finishes closer to Nova's own speed; "
        "higher puts less load on the Nova API."),
    cfg.FloatOpt(
        "request_settle_time", default=10.0, min=0.0, max=600.0,
        help="Seconds to wait, after an evacuate request whose answer was lost (dropped "
        "connection, timeout, or hakari killed mid-call), before a migration listing "
        "that still shows nothing for the instance counts as proof Nova did not act. "
        "Nova records the migration before it answers, so this only needs to outlast "
        "a slow Nova API worker; shorter risks a second evacuation."),
    cfg.StrOpt(
        "instance_selection", default="all", choices=[
            ("all", "evacuate every instance of the failed host"),
            ("tagged", "evacuate only instances tagged evacuable (see evacuable_tag)")],
        help="Which instances of a failed host are evacuated."),
    cfg.StrOpt(
        "evacuable_tag", default="evacuable",
        help="With instance_selection = tagged: the key that marks an instance "
        "evacuable when set to a true value (true/yes/1/on) in the server metadata, "
        "its flavor's extra specs, its image's properties, or the metadata of a host "
        "aggregate the failed host belongs to (see evacuable_sources)."),
    cfg.ListOpt(
        "evacuable_sources", default=["server", "flavor", "image", "aggregate"],
        item_type=types.String(choices=["server", "flavor", "image", "aggregate"]),
        help="Where evacuable_tag is looked for: server (metadata), flavor (extra "
        "specs), image (properties, from Nova >= 2.98), aggregate (metadata of the "
        "failed host's aggregates)."),
    cfg.BoolOpt(
        "evacuate_error_instances", default=False,
        help="Also evacuate instances that were already in ERROR before the host "
        "failed. Off: they are reported skipped. Instances that end in ERROR because "
        "of hakari's own failed attempt are always retried."),
    cfg.ListOpt(
        "excluded_hosts", default=[],
        help="Nova compute hosts (or Pacemaker node names) held by default, as if "
        "`hakari hold` had been run for each: the engine reports their loss and does "
        "nothing else, fence_hakari leaves their Nova service alone, and `hakari "
        "evacuate` refuses them. The engine re-reads it on SIGHUP."),
    cfg.ListOpt(
        "excluded_instances", default=[],
        help="Instance UUIDs never evacuated (reported skipped)."),
    cfg.StrOpt(
        "priority_key", default="hakari:priority",
        help="Server metadata key holding an integer evacuation priority: higher goes "
        "first; missing or not an integer counts as 0; ties keep Nova's order."),
    cfg.StrOpt(
        "target", default="auto", choices=[
            ("auto", "Nova's scheduler picks each destination"),
            ("reserved_host", "evacuate to the reserved hosts only"),
            ("auto_priority", "scheduler first; retries go to a reserved host"),
            ("rh_priority", "reserved host first; retries let the scheduler pick")],
        help="How destinations are chosen. Reserved hosts are enabled in Nova when "
        "hakari first sends an instance to them."),
    cfg.ListOpt(
        "reserved_hosts", default=[],
        help="Nova compute hosts kept free (usually disabled) as evacuation targets, "
        "in order of preference."),
    cfg.StrOpt(
        "reserved_hosts_aggregate", default="",
        help="Name of a host aggregate whose hosts are reserved hosts too (after those "
        "in reserved_hosts)."),
    cfg.BoolOpt(
        "capacity_check", default=True,
        help="Before evacuating, compare the instances' flavors (in evacuation order) "
        "with the free vCPU, RAM and disk that placement reports for the computes they "
        "may go to, and report those that cannot fit as failed instead of sending "
        "evacuations bound to fail. Skipped, with a journal note, when placement "
        "cannot be read."),
]

instance_failure_group = cfg.OptGroup(
    "instance_failure", title="Instance failure",
    help="What hakari does for an HA instance found stopped or in ERROR: by the engine's "
    "own watch of Nova (watch_interval), by `hakari recover-instance UUID` or by a VM "
    "notification to `hakari api` (an external monitor). Which instances are HA follows "
    "the [recovery] selection options (instance_selection, evacuable_tag, "
    "evacuable_sources, excluded_instances).")

instance_failure_opts = [
    cfg.StrOpt(
        "method", default="auto", choices=[
            ("auto", "start a SHUTOFF instance; hard reboot one in ERROR"),
            ("stop_start", "start a SHUTOFF instance; stop, then start, one in ERROR"),
            ("hard_reboot", "hard reboot the instance, whether SHUTOFF or in ERROR")],
        help="How a failed instance is brought back to ACTIVE."),
    cfg.IntOpt(
        "max_attempts", default=3, min=1,
        help="Recovery attempts per instance failure, counted in the CIB (the same on "
        "every controller) across runs; "
        "after that the failure is reported FAILED and left to a human. It closes, and "
        "a later failure starts a fresh count, once the instance is seen ACTIVE."),
    cfg.FloatOpt(
        "verify_timeout", default=300.0, min=1.0,
        help="Seconds an attempt may take to leave the instance ACTIVE (with no task in "
        "progress) before it counts as failed."),
    cfg.FloatOpt(
        "poll_interval", default=2.0, min=0.05, max=60.0,
        help="Seconds between two looks at an instance while an attempt is verified."),
    cfg.FloatOpt(
        "watch_interval", default=15.0, min=0.0,
        help="Seconds between two looks of the engine at the servers Nova changed, for "
        "HA instances that stopped or went to ERROR without anyone asking: Nova stopped "
        "them itself (its power-state sync found the guest shut down), not a user. "
        "Those are recovered as above, on a healthy compute only, with no external "
        "monitor. A user's own stop is left alone; a guest shut down from inside looks "
        "like a crash to Nova and is restarted too (Masakari leaves it). 0 turns the "
        "watch off."),
]

process_failure_group = cfg.OptGroup(
    "process_failure", title="Process failure",
    help="What hakari does when nova-compute keeps failing on a host that is still "
    "alive: disable the compute service so nothing new is scheduled there, and "
    "re-enable it once it is healthy, but only when hakari was the one to disable it.")

process_failure_opts = [
    cfg.ListOpt(
        "resources", default=["hakari-nova-compute", "nova-compute"],
        help="Pacemaker resource ids of nova-compute: a failed start or monitor of one "
        "of them, as the CIB records it (operation history and fail counts, the same "
        "on every controller), counts as a process failure of the node it ran on; an "
        "alert about one only makes the engine look sooner. A clone instance suffix "
        "(':0') is ignored."),
    cfg.IntOpt(
        "failure_threshold", default=3, min=1,
        help="Failed nova-compute operations within failure_window seconds that make "
        "the engine disable the host's compute service. `hakari notify process HOST` "
        "(an external monitor that has already concluded) disables at once."),
    cfg.FloatOpt(
        "failure_window", default=600.0, min=1.0,
        help="Seconds over which failed nova-compute operations are counted; a process "
        "failure with no new failure for this long and nothing disabled is closed."),
    cfg.FloatOpt(
        "enable_after", default=300.0, min=0.0,
        help="Seconds without any new failure, with Nova reporting the service up, "
        "before the engine re-enables a compute service hakari disabled. `hakari notify "
        "process HOST --healthy` re-enables without waiting (Nova must still say up)."),
]

openstack_group = cfg.OptGroup(
    "openstack", title="OpenStack",
    help="How hakari reaches Nova.")

openstack_opts = [
    cfg.StrOpt(
        "cloud", default="",
        help="Name of the cloud in clouds.yaml whose credentials hakari uses. The "
        "--os-cloud command-line option (fence_hakari: cloud=) overrides it. Empty: "
        "the OS_CLOUD environment variable; with neither, hakari refuses to run "
        "anything that needs Nova. Other OS_* variables (OS_AUTH_URL, OS_PASSWORD, "
        "OS_REGION_NAME ...) are never read: credentials come from clouds.yaml only."),
    cfg.StrOpt(
        "clouds_file", default="",
        help="Path of the clouds.yaml that defines the cloud; it must exist. Empty: the "
        "file named by the OS_CLIENT_CONFIG_FILE environment variable (must exist "
        "too), else the first found of ./clouds.yaml, ~/.config/openstack/clouds.yaml, "
        "/etc/openstack/clouds.yaml (.yml and .json also accepted), then openstacksdk's "
        "other places ($XDG_CONFIG_HOME/openstack, /etc/xdg/openstack). A secure.yaml "
        "(OS_CLIENT_SECURE_FILE, or secure.yaml in the same places) is merged in, as "
        "openstacksdk does."),
    cfg.StrOpt(
        "region_name", default="",
        help="Region to use when the cloud has several."),
    cfg.FloatOpt(
        "api_timeout", default=30.0, min=1.0,
        help="Seconds any single Nova API request may take."),
    cfg.BoolOpt(
        "verify", default=True,
        help="Verify TLS certificates of the OpenStack endpoints. Turn off only in a lab."),
    cfg.StrOpt(
        "cacert", default="",
        help="CA bundle to verify TLS against, if not the system one."),
]

_GROUPS = (
    (None, default_opts),
    (cluster_group, cluster_opts),
    (fencing_group, fencing_opts),
    (recovery_group, recovery_opts),
    (instance_failure_group, instance_failure_opts),
    (process_failure_group, process_failure_opts),
    (openstack_group, openstack_opts),
    (api_group, api_opts),
)


def list_opts():
    """Options by group, for oslo-config-generator."""
    return [(group.name if group else "DEFAULT", opts) for group, opts in _GROUPS]


def register(conf: cfg.ConfigOpts) -> None:
    for group, opts in _GROUPS:
        if group is None:
            conf.register_opts(opts)
            continue
        # A fresh OptGroup per ConfigOpts: oslo.config keeps overrides in the group
        # object, so sharing the module-level one would leak set_override() (e.g.
        # --os-cloud) from one load() into the next.
        conf.register_group(cfg.OptGroup(group.name, title=group.title, help=group.help))
        conf.register_opts(opts, group=group.name)


def load(config_files: list[str] | None = None, os_cloud: str | None = None) -> cfg.ConfigOpts:
    """Read the configuration and check every value now, not at first use.

    With no file given, /etc/hakari/hakari.conf is read when it exists; a file named
    explicitly must exist.
    """
    conf = cfg.ConfigOpts()
    register(conf)
    if config_files is None:
        config_files = [DEFAULT_CONFIG_FILE] if os.path.exists(DEFAULT_CONFIG_FILE) else []
    for path in config_files:
        if not os.path.isfile(path):
            raise ConfigError(f"config file {path}: not found")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"config file {path}: not readable")
    try:
        conf(args=[], project="hakari", default_config_files=config_files,
             use_env=False)
    except cfg.ConfigFileParseError as err:
        raise ConfigError(f"config file {err.config_file}: {err.msg}") from None
    except UnicodeDecodeError as err:
        # oslo.config reads files as UTF-8 and lets the decode error through.
        raise ConfigError(f"config file: not UTF-8 text ({one_line(err)})") from None
    except cfg.Error as err:
        raise ConfigError(f"config: {one_line(err)}") from None
    _check_values(conf, config_files)
    if os_cloud:
        conf.set_override("cloud", os_cloud, group="openstack")
    return conf


def _check_values(conf: cfg.ConfigOpts, files: list[str]) -> None:
    # oslo.config converts values lazily; touch each so a bad value fails at start-up
    # with the file and option named, not deep inside a recovery.
    for group_name, opts in list_opts():
        section = conf if group_name == "DEFAULT" else conf[group_name]
        for opt in opts:
            try:
                getattr(section, opt.dest)
            except (cfg.ConfigFileValueError, ValueError) as err:
                where = ", ".join(files) or "configuration"
                reason = one_line(err).split(" is not valid: ")[-1]
                raise ConfigError(
                    f"config file {where}: [{group_name}] {opt.name}: invalid value: "
                    f"{reason}") from None
    problem = paths.own_dir_problem(conf.state_dir)
    if problem is not None:
        # hakari creates, re-modes and may purge its state directory: never a system one.
        raise ConfigError(f"config file {', '.join(files) or 'configuration'}: [DEFAULT] "
                          f"state_dir: invalid value: {problem}")


