"""Shared settings for the hypothesis fuzz tests (tests/unit/test_fuzz_*.py).

`make test` runs a bounded number of examples per test so the whole fuzz set stays well
under a minute; `make soak` raises it with HAKARI_FUZZ_EXAMPLES. deadline=None: a slow
example on a loaded machine is not a bug; a hang is caught by pytest-timeout instead.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("HAKARI_FUZZ_EXAMPLES", "60"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # Corpus files are read and mutated inside the test: generation is legitimately slow
    # at times, and function-scoped fixtures (tmp_path) are set up once per test on purpose.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
    database=None,  # no .hypothesis directory in the work tree
)
