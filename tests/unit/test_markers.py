"""The markers `make test-fast` selects by (tests/README.md): a test that reaches for root,
a Pacemaker lab or real Nova without its marker fails, as root and without, so it can
neither start daemons in the fast run nor skip there unnoticed."""

from __future__ import annotations

import pytest

from tests import agents_helpers, conftest, fixtures_nova, fixtures_pacemaker


@pytest.mark.parametrize("require", [conftest.require_root, fixtures_pacemaker.require_lab,
                                     fixtures_nova.require_nova_venv],
                         ids=["root", "lab", "nova"])
def test_an_unmarked_test_needing_root_a_lab_or_nova_fails(require):
    with pytest.raises(pytest.fail.Exception, match="is not marked"):
        require()


def test_the_fixtures_that_give_markers_exist():
    # A renamed fixture would silently stop marking its users.
    modules = (fixtures_pacemaker, fixtures_nova, agents_helpers)
    missing = [name for name in conftest.MARKER_OF_FIXTURE
               if not any(hasattr(m, name) for m in modules)]
    assert not missing
