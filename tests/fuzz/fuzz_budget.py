"""Fuzz budget: VERBALREC_FUZZ_EXAMPLES examples in all, shared by the fuzz tests (default 200,
CI: well under a minute; nightly: VERBALREC_FUZZ_EXAMPLES=10000). Without the variable the run is
derandomized, so CI sees the same examples every time; with it, each run explores new ones."""

import os

from hypothesis import HealthCheck, settings

TOTAL = int(os.environ.get("VERBALREC_FUZZ_EXAMPLES", "200"))


def budget(share: float):
    """``settings`` for one fuzz test that takes ``share`` of the total budget."""
    return settings(max_examples=max(1, round(TOTAL * share)), deadline=None, database=None,
                    derandomize="VERBALREC_FUZZ_EXAMPLES" not in os.environ, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
