"""Keystone in front of the API: keystonemiddleware's auth_token, configured from
hakari's own configuration files ([keystone_authtoken], as for any OpenStack service).

No anonymous access: without a valid token keystonemiddleware answers 401 itself, and
a token it confirmed reaches the API with its user, project and roles in the X-* headers
(hakari.api.app.caller_of), any a client sent removed.
"""

from __future__ import annotations

from keystonemiddleware import auth_token
from oslo_config import cfg

from hakari.errors import ConfigError


# Seconds auth_token waits on Keystone per token check when [keystone_authtoken]
# http_connect_timeout is not set: keystonemiddleware's own default is to wait for ever.
KEYSTONE_TIMEOUT = 10


def protect(app, conf: cfg.ConfigOpts):
    """``app`` behind auth_token; ConfigError when [keystone_authtoken] names no way to
    reach Keystone (auth_token would answer every request 503)."""
    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    conf.set_default("http_connect_timeout", KEYSTONE_TIMEOUT, group="keystone_authtoken")
    guarded = auth_token.AuthProtocol(app, {"oslo_config_config": conf})
    section = conf.keystone_authtoken
    if not section.auth_type and not section.auth_section:
        raise ConfigError(
            "[keystone_authtoken] auth_type is not set: hakari api validates every token "
            "with Keystone (auth_type = password, auth_url, username, password, "
            "project_name, user_domain_name, project_domain_name, www_authenticate_uri: "
            "docs/api.md)")
    return guarded
