import pathlib
import subprocess
import sys

import pytest

from hakari import config
from hakari.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_every_option_has_help():
    for group, opts in config.list_opts():
        for opt in opts:
            assert opt.help and len(opt.help) > 20, (group, opt.name)


def test_defaults_load_without_files():
    conf = config.load([])
    assert conf.fencing.clock_skew == 2.0
    assert conf.recovery.max_parallel >= conf.recovery.max_parallel_per_host


def test_values_from_file_and_os_cloud_override(tmp_path):
    f = tmp_path / "h.conf"
    f.write_text("[recovery]\nmax_parallel = 7\n[openstack]\ncloud = a\n")
    conf = config.load([str(f)], os_cloud="b")
    assert conf.recovery.max_parallel == 7
    assert conf.openstack.cloud == "b"


def test_bad_value_names_file_and_option(tmp_path):
    f = tmp_path / "h.conf"
    f.write_text("[recovery]\nmax_parallel = lots\n")
    with pytest.raises(ConfigError) as exc:
        config.load([str(f)])
    msg = str(exc.value)
    assert str(f) in msg and "[recovery] max_parallel" in msg and "\n" not in msg


def test_out_of_range_value(tmp_path):
    f = tmp_path / "h.conf"
    f.write_text("[fencing]\nclock_skew = 3600\n")
    with pytest.raises(ConfigError, match=r"\[fencing\] clock_skew"):
        config.load([str(f)])


def test_unparsable_file(tmp_path):
    f = tmp_path / "h.conf"
    f.write_text("[recovery\nmax_parallel = 1\n")
    with pytest.raises(ConfigError, match=str(f)):
        config.load([str(f)])


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load([str(tmp_path / "nope.conf")])


def test_cli_reports_bad_config_in_one_line(tmp_path):
    f = tmp_path / "h.conf"
    f.write_text("[cluster]\ntool_timeout = soon\n")
    proc = subprocess.run(
        [sys.executable, "-m", "hakari", "--config-file", str(f), "status",
         "--crm-mon-file", str(tmp_path / "x.xml")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("hakari: error: config file")
    assert "[cluster] tool_timeout" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_sample_config_is_current(tmp_path):
    out = tmp_path / "sample.conf"
    gen = pathlib.Path(sys.executable).parent / "oslo-config-generator"
    subprocess.run([str(gen), "--namespace", "hakari", "--output-file", str(out),
                    "--wrap-width", "79"], check=True, timeout=60)
    committed = ROOT / "etc/hakari/hakari.conf.sample"
    assert committed.read_text() == out.read_text(), \
        "etc/hakari/hakari.conf.sample is stale: run `make sample-config`"


def test_overrides_do_not_leak_between_loads():
    assert config.load([], os_cloud="first").openstack.cloud == "first"
    assert config.load([]).openstack.cloud == ""
