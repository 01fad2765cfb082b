"""The alert's own reading of state_dir agrees with oslo.config's, or refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hakari import config
from hakari.alerts import statedir
from hakari.alerts.statedir import StateDirError
from hakari.paths import DEFAULT_STATE_DIR

SAME_AS_OSLO = [
    "[DEFAULT]\nstate_dir = /srv/hakari\n",
    "[DEFAULT]\nstate_dir=/srv/hakari\n",
    "[DEFAULT]\nstate_dir : /srv/hakari\n",
    "[DEFAULT]\nstate_dir = '/srv/hakari'\n",
    '[DEFAULT]\nstate_dir = "/srv/hak ari"\n',
    "[DEFAULT]\n# state_dir = /nope\n; state_dir = /nope\nstate_dir = /srv/a\n",
    "[DEFAULT]\nstate_dir = /srv/a\nstate_dir = /srv/b\n",
    "[cluster]\nstate_dir = /nope\n[DEFAULT]\nstate_dir = /srv/a\n[cluster]\n",
    "[DEFAULT]\nstate_dir = /srv/a\n\n[openstack]\ncloud = x\n  continued\n",
    "[DEFAULT]\r\nstate_dir = /srv/crlf\r\n",
    "[DEFAULT]\nstate_dir = /srv/a=b:c\n",
    "[openstack]\ncloud = lab\n",
    "",
]


@pytest.mark.parametrize("text", SAME_AS_OSLO)
def test_agrees_with_oslo_config(tmp_path, text):
    path = tmp_path / "hakari.conf"
    path.write_bytes(text.encode())
    assert statedir.read_state_dir(str(path)) == config.load([str(path)]).state_dir


@pytest.mark.parametrize("text,why", [
    ("[DEFAULT]\nstate_dir = $base/x\n", "interpolation"),
    ("[DEFAULT]\nstate_dir = /srv\n  /continued\n", "continues"),
    ("[DEFAULT]\nstate_dir = relative\n", "absolute"),
    ("[DEFAULT\nstate_dir = /srv\n", "section"),
    ("[DEFAULT]\njust words\n", "no '='"),
])
def test_refuses_what_it_would_not_read_like_oslo(tmp_path, text, why):
    path = tmp_path / "hakari.conf"
    path.write_text(text)
    with pytest.raises(StateDirError, match=why):
        statedir.read_state_dir(str(path))


def test_recipient_handling(tmp_path):
    conf = tmp_path / "hakari.conf"
    conf.write_text("[DEFAULT]\nstate_dir = /srv/h\n")
    assert statedir.resolve(str(conf)) == "/srv/h"
    assert statedir.resolve("", exists=lambda _p: False) == DEFAULT_STATE_DIR
    for bad in ("relative.conf", "/x\n", "/" + "x" * 5000):
        with pytest.raises(StateDirError, match="absolute path of hakari.conf"):
            statedir.resolve(bad)
    with pytest.raises(StateDirError, match="cannot read"):
        statedir.resolve(str(tmp_path / "missing.conf"))
    (tmp_path / "bin.conf").write_bytes(b"[DEFAULT]\nstate_dir = /\xff\n")
    with pytest.raises(StateDirError, match="UTF-8"):
        statedir.resolve(str(tmp_path / "bin.conf"))


line = st.one_of(
    st.sampled_from(["[DEFAULT]", "[cluster]", "", "# c", "; c", "  indented",
                     "state_dir = /a", "state_dir=/b", "state_dir: /c", "cloud = x",
                     "state_dir = '/q'", "tool_timeout = 5"]),
    st.builds(lambda v: f"state_dir = /{v}",
              st.text(alphabet="abc/._- '\"", min_size=1, max_size=12)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(line, max_size=12))
def test_random_files_agree_or_are_refused(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("conf") / "hakari.conf"
    path.write_text("\n".join(lines) + "\n")
    try:
        ours = statedir.read_state_dir(str(path))
    except StateDirError:
        return
    try:
        theirs = config.load([str(path)]).state_dir
    except Exception:  # noqa: BLE001 - oslo refuses it: hakari's CLI would too
        return
    assert ours == theirs
