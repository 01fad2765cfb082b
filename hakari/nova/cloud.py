"""Which cloud's credentials hakari uses and where they are found: clouds.yaml and
secure.yaml, located as openstacksdk does, checked but not contacted."""

from __future__ import annotations

import os

from hakari.errors import HakariError
from hakari.display import one_line

# Where openstacksdk looks for clouds.yaml (and secure.yaml) when no file is named, first
# found wins. Resolved at each call: openstacksdk fixes its own list at import, with the
# working directory and HOME of that moment.
SEARCH_DIRS = (".", "~/.config/openstack", "/etc/openstack")
_SUFFIXES = (".yaml", ".yml", ".json")


def cloud_name(conf) -> str:
    """The cloud whose credentials hakari uses: ``[openstack] cloud`` (which --os-cloud
    and fence_hakari's ``cloud=`` override), else OS_CLOUD; "" when nothing names one."""
    return conf.openstack.cloud or os.environ.get("OS_CLOUD", "")


def clouds_files(conf, also_search=()) -> list[str]:
    """clouds.yaml candidates in order: ``[openstack] clouds_file``, else
    OS_CLIENT_CONFIG_FILE, else the search path (then ``also_search``, more places not
    already in it). A file named by either must exist: falling back to the search path
    could pick up a different cloud of the same name."""
    for path, source in ((conf.openstack.clouds_file, "[openstack] clouds_file"),
                         (os.environ.get("OS_CLIENT_CONFIG_FILE", ""),
                          "OS_CLIENT_CONFIG_FILE")):
        if path:
            _check_readable(path, source)
            return [path]
    return _search_path("clouds", also_search)


def secure_files(also_search=()) -> list[str]:
    """secure.yaml candidates (passwords kept apart from clouds.yaml, merged into it):
    OS_CLIENT_SECURE_FILE first when set, then the search path."""
    named = os.environ.get("OS_CLIENT_SECURE_FILE", "")
    if named:
        _check_readable(named, "OS_CLIENT_SECURE_FILE")
    return ([named] if named else []) + _search_path("secure", also_search)


def _search_path(stem: str, also_search) -> list[str]:
    files = [os.path.join(os.path.abspath(os.path.expanduser(d)), stem + suffix)
             for d in SEARCH_DIRS for suffix in _SUFFIXES]
    return files + [f for f in also_search if f not in files]


def _check_readable(path: str, source: str) -> None:
    if not os.path.isfile(path):
        raise HakariError(f"{source} {path}: not found")
    if not os.access(path, os.R_OK):
        raise HakariError(f"{source} {path}: not readable")


def cloud_region(conf):
    """The cloud named by :func:`cloud_name` from the file :func:`clouds_files` picks,
    checked but not contacted. Raises HakariError when there is none or it is unusable."""
    # Lazy: cloud_name, which every evacuator start and fence_hakari validate-all run,
    # needs none of openstacksdk, and importing it costs 0.3 s.
    from keystoneauth1 import exceptions as ks_exc
    from openstack import config as os_config
    from openstack import exceptions as os_exc
    from openstack.config import loader as os_loader

    opts = conf.openstack
    name = cloud_name(conf)
    if not name:
        raise HakariError("no cloud configured: set [openstack] cloud, --os-cloud or "
                          "OS_CLOUD")
    kwargs = {"api_timeout": opts.api_timeout, "verify": opts.verify}
    if opts.cacert:
        kwargs["cacert"] = opts.cacert
    if opts.region_name:
        kwargs["region_name"] = opts.region_name
    try:
        # load_envvars=False: the few variables hakari honours are read by the helpers
        # above. With True, openstacksdk also makes a cloud of OS_AUTH_URL, OS_USERNAME,
        # OS_PASSWORD ... and reads other OS_* settings (region, cache, metrics); an
        # operator's sourced openrc would then give `hakari evacuate` other credentials
        # or settings than the engine and fence_hakari get in Pacemaker's clean
        # environment. Credentials come from a named cloud in a file an operator can
        # review, nothing else.
        loader = os_config.OpenStackConfig(
            config_files=clouds_files(conf, os_loader.CONFIG_FILES),
            secure_files=secure_files(os_loader.SECURE_FILES),
            load_envvars=False)
        return loader.get_one(cloud=name, **kwargs)
    except (os_exc.SDKException, ks_exc.ClientException, OSError) as err:
        raise HakariError(f"cloud {name!r}: {one_line(err)}") from None
