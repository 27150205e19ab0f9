import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for helpers

from helpers import make_taskset  # noqa: E402

from verbalrec.errors import InputError, LeakageError  # noqa: E402
from verbalrec.reason.sasrec import UNKNOWN_SCORE, SASRecConfig, SASRecRanker  # noqa: E402
from verbalrec.tasks.schema import training_sequences as user_sequences  # noqa: E402

K, USERS, LENGTH, H = 10, 20, 16, 5


def cycle(user: int) -> list[int]:
    """Each user walks the cycle 1 -> 2 -> ... -> K -> 1 from a different start."""
    return [(user + t) % K + 1 for t in range(LENGTH)]


def cycle_rows(rng: np.random.Generator, n_cands: int = 5) -> list[dict]:
    rows = []
    for u in range(USERS):
        seq = cycle(u)
        for k in range(1, LENGTH):
            others = [i for i in range(1, K + 1) if i != seq[k]]
            cands = [seq[k], *rng.choice(others, n_cands - 1, replace=False).tolist()]
            rng.shuffle(cands)
            rows.append(dict(user_id=u, target_item=seq[k], candidates=cands, hist_item=seq[max(0, k - H):k],
                             target_time=k * 10, hist_time=[j * 10 for j in range(max(0, k - H), k)],
                             split="test" if k == LENGTH - 1 else "train"))
    return rows


@pytest.fixture(scope="module")
def data():
    ts = make_taskset(cycle_rows(np.random.default_rng(0)), catalog_ids=[*range(1, K + 1), 99])
    return ts.split("train"), ts.split("test").tasks()


def tiny(**kw) -> SASRecConfig:
    return SASRecConfig(**{**dict(hidden=16, layers=1, heads=1, max_len=8, dropout=0.1, epochs=30,
                                  batch_size=32, lr=5e-3, seed=0, threads=1), **kw})


@pytest.fixture(scope="module")
def fitted(data):
    return SASRecRanker(tiny()).fit(data[0])


def hit_rate(scores, tasks) -> float:
    return float(np.mean(scores.predict() == np.array([t.label for t in tasks])))


def test_user_sequences_join_capped_histories(data):
    seqs = user_sequences(data[0])
    assert seqs["3"] == [str(i) for i in cycle(3)[:-1]]  # the test target is not in train


def test_learns_the_cycle(data, fitted):
    scores = fitted.score(data[1], [""] * len(data[1]))
    assert scores.values.shape == (USERS, 5) and scores.valid.all()
    assert hit_rate(scores, data[1]) >= 0.8  # chance is 0.2


def test_bce_loss_learns_too(data):
    model = SASRecRanker(tiny(loss="bce", epochs=60)).fit(data[0])
    assert hit_rate(model.score(data[1], []), data[1]) >= 0.6


def test_unknown_and_catalog_only_items(data, fitted):
    task = data[1][0]
    task.candidates = [*task.candidates, "never-seen", "99"]
    task.hist_item = ["also-unknown", *task.hist_item]
    values = fitted.score([task], [""]).values[0]
    assert values[-2] == UNKNOWN_SCORE and np.isfinite(values[-1]) and values[-1] > UNKNOWN_SCORE
    assert values.argmax() == task.label  # the unknown history item is dropped, not fatal


def test_ragged_candidates_are_padded(data, fitted):
    short, long = data[1][0], data[1][1]
    short.candidates = short.candidates[:3]
    values = fitted.score([short, long], ["", ""]).values
    assert values.shape == (2, 5) and np.isneginf(values[0, 3:]).all() and np.isfinite(values[1]).all()


def test_empty_history_and_no_tasks(fitted, data):
    task = data[1][0]
    task.hist_item = []
    assert np.isfinite(fitted.score([task], [""]).values).all()
    assert fitted.score([], []).values.shape[0] == 0


def test_deterministic_by_seed(data):
    cfg = tiny(epochs=3)
    a, b = (SASRecRanker(cfg).fit(data[0]).score(data[1], []).values for _ in range(2))
    c = SASRecRanker(tiny(epochs=3, seed=1)).fit(data[0]).score(data[1], []).values
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_refuses_non_train_tasks(data):
    ts = make_taskset(cycle_rows(np.random.default_rng(0)))
    with pytest.raises(LeakageError, match="split"):
        SASRecRanker(tiny()).fit(ts)


def test_threads_are_restored(data):
    import torch
    before = torch.get_num_threads()
    SASRecRanker(tiny(epochs=1, threads=before + 1)).fit(data[0]).score(data[1], [])
    assert torch.get_num_threads() == before


def test_score_before_fit(data):
    with pytest.raises(RuntimeError):
        SASRecRanker(tiny()).score(data[1], [])


@pytest.mark.parametrize("kw, field", [
    (dict(hidden=0), "hidden"), (dict(hidden=10, heads=3), "heads"), (dict(dropout=1.0), "dropout"),
    (dict(lr=0), "lr"), (dict(loss="softmax"), "loss"), (dict(device="tpu9"), "device"),
    (dict(epochs=2.5), "epochs"), (dict(threads=-1), "threads"),
])
def test_config_validation(kw, field):
    with pytest.raises(InputError) as err:
        SASRecConfig(**kw)
    assert err.value.field == field
