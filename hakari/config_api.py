"""The [api] options: `hakari api`, the Masakari-compatible API (docs/api.md).

oslo.config only: hakari.config registers this group with the others, so the sample
configuration and the start-up check of every value include it, while the API's own
libraries (the api extra) stay out of every other command's way. Keystone token
validation is configured in keystonemiddleware's own [keystone_authtoken] section and the
policy file in oslo.policy's [oslo_policy] section, both read from the same files.
"""

from __future__ import annotations

from oslo_config import cfg

api_group = cfg.OptGroup(
    "api", title="Masakari-compatible API",
    help="`hakari api`: Masakari's API v1 (segments, hosts, notifications) in front of "
    "hakari's recovery, for masakari-monitors and Masakari's clients. Tokens are "
    "validated by keystonemiddleware ([keystone_authtoken]); access follows oslo.policy "
    "rules with Masakari's names and admin-only defaults ([oslo_policy] policy_file).")

api_opts = [
    cfg.HostAddressOpt(
        "bind_host", default="0.0.0.0",
        help="Address `hakari api` listens on (IPv4 or IPv6)."),
    cfg.PortOpt(
        "bind_port", default=15868,
        help="TCP port `hakari api` listens on; 15868 is Masakari's."),
    cfg.StrOpt(
        "cert_file", default="",
        help="PEM certificate (chain) to serve HTTPS with; needs key_file. Empty: plain "
        "HTTP, for a listener behind a TLS-terminating load balancer on a trusted network."),
    cfg.StrOpt(
        "key_file", default="",
        help="PEM private key of cert_file."),
    cfg.StrOpt(
        "connection", default="", secret=True,
        help="SQLAlchemy URL of the database holding segments, hosts and notifications, "
        "e.g. mysql+pymysql://hakari:PASSWORD@db.example.com/hakari so that every "
        "controller serves the same records. Empty: an SQLite file api.sqlite in "
        "[DEFAULT] state_dir, for one controller."),
    cfg.IntOpt(
        "max_request_body_size", default=114688, min=1024,
        help="Largest request body accepted, in bytes; larger ones are refused with 413 "
        "and nothing is stored."),
    cfg.IntOpt(
        "max_limit", default=1000, min=1,
        help="Most items one list request returns (Masakari's osapi_max_limit)."),
    cfg.IntOpt(
        "duplicate_notification_detection_interval", default=180, min=0,
        help="Seconds: a notification of the same type from the same host with the same "
        "payload, generated less than this long after an earlier one, is refused as a "
        "duplicate (409), as Masakari does."),
    cfg.IntOpt(
        "recovery_workers", default=8, min=1,
        help="Notifications handled at once by one `hakari api` process; more wait "
        "their turn with status new."),
    cfg.FloatOpt(
        "host_follow_interval", default=5.0, min=0.5,
        help="Seconds between two looks at the CIB while a COMPUTE_HOST notification "
        "follows the host's incident."),
    cfg.FloatOpt(
        "host_follow_timeout", default=3600.0, min=1.0,
        help="Seconds a COMPUTE_HOST notification follows the host's incident (or waits "
        "for the engine to open one) before it is reported failed with the incident's "
        "state at that moment. The incident itself goes on: `hakari incidents` tells."),
]
