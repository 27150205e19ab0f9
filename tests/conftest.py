import os

# Tiny models on a 2-core machine: one thread is faster than two, and nothing may reach the hub.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from verbalrec.logs.schema import EventLog, validate_catalog, validate_events  # noqa: E402

from helpers import tiny_catalog, tiny_events  # noqa: E402


@pytest.fixture
def tiny_log() -> EventLog:
    catalog = validate_catalog(tiny_catalog())
    return EventLog(validate_events(tiny_events(), catalog=catalog), catalog, name="tiny")
