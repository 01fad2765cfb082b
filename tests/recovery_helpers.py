"""Helpers to point hakari's recovery at the fake Nova or the Nova lab."""

from __future__ import annotations

import pathlib

from hakari import config
from hakari.nova.client import Nova


def conf_for_fake(fake, tmp_path: pathlib.Path, **recovery):
    """A loaded hakari config whose cloud is ``fake`` and state_dir is under tmp_path."""
    from lab.fakenova.sdk import write_clouds_yaml

    info = fake.info() if callable(fake.info) else fake.info     # FakeNovaProcess: a dict
    clouds = write_clouds_yaml(tmp_path / "clouds.yaml", info)
    return conf_file(tmp_path, f"[openstack]\ncloud = fakenova\nclouds_file = {clouds}\n",
                     recovery)


def conf_for_lab(lab, tmp_path: pathlib.Path, **recovery):
    return conf_file(tmp_path, f"[openstack]\ncloud = {lab.cloud_name()}\n"
                               f"clouds_file = {lab.clouds_yaml}\n", recovery)


def conf_file(tmp_path, openstack: str, recovery: dict):
    lines = [f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n", openstack, "[recovery]\n"]
    for key, value in recovery.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(value)
        lines.append(f"{key} = {value}\n")
    path = tmp_path / "hakari.conf"
    path.write_text("".join(lines))
    conf = config.load([str(path)])
    return conf


def nova(conf) -> Nova:
    return Nova.connect(conf)
