"""Synthetic streaming logs in the shape of a Netflix-like service, with the truth that was planted.

The generative story (numpy, vectorised over one chunk of users at a time):

1. Catalog. Films and series; every episode is its own item whose ``series`` is the show's title
   ("Dark Sands: S1E3"). Titles are unique word-list combinations; each has a primary genre (from
   15 streaming genres, weighted by how common they are) plus up to two more, plot tags, a year,
   a runtime and a heavy-tailed popularity.
2. Users. A Dirichlet taste over genres (the planted truth), a device mix, a peak viewing hour.
3. Sessions. Days are weighted towards weekends; hours mix the user's peak with an evening-heavy
   service curve; one device per session. Sessions never overlap.
4. Picks. A session holds a few picks. A pick returns to an earlier pick of the user (a show in
   progress; rarely a film rewatch) or is fresh: genre from taste (plus some exploration), then a
   title by popularity within that genre. A show pick binges the next episodes in order.
5. Events. Plays are full (close to runtime) when the title fits the taste, otherwise mostly short
   partial plays, often resumed at the start of the next session (a non-Discovery play). Thumbs
   follow taste; some picks were put on the list in an earlier session. Trailers and autoplay
   previews are the planted noise: short, for titles only weakly tied to taste.
6. Time. Events of a session are back to back, so timestamps strictly increase per user and no
   (user, item, timestamp, engagement) duplicate can occur.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ..atomic import write_json
from ..errors import InputError
from .schema import EVENT_COLUMNS, NOISE_ENGAGEMENTS, EventLog, validate_catalog

GENRES = ["Drama", "Comedy", "Thriller", "Action", "Documentary", "Crime", "Romance", "Sci-Fi",
          "Animation", "Horror", "Fantasy", "Family", "Mystery", "Reality", "Anime"]
GENRE_POP = np.array([14, 12, 9, 9, 6, 7, 6, 5, 5, 5, 4, 4, 4, 3, 3], float)
GENRE_TAGS = [["slow-burn", "heartfelt", "family saga"], ["witty", "feel-good", "quirky"],
              ["suspenseful", "twisty", "paranoid"], ["explosive", "revenge", "high-stakes"],
              ["true story", "eye-opening", "nature"], ["heist", "gritty", "police"],
              ["romantic", "bittersweet", "second chances"], ["dystopian", "space", "time travel"],
              ["whimsical", "colourful", "talking animals"], ["supernatural", "gory", "haunted"],
              ["magical", "epic", "dragons"], ["heartwarming", "wholesome", "adventure"],
              ["whodunit", "atmospheric", "cold case"], ["competition", "unscripted", "makeover"],
              ["mecha", "coming-of-age", "shonen"]]
COMMON_TAGS = ["nostalgic", "dark", "critically acclaimed", "based on a book", "ensemble cast",
               "small town", "underdog", "cerebral", "violent", "emotional", "inspiring", "period piece"]
_ADJ = ("Dark Silent Crimson Broken Golden Hidden Last Wild Lost Burning Frozen Hollow Iron Quiet "
        "Savage Bright Shadow Velvet Bitter Electric Distant Secret Scarlet Midnight Glass Paper "
        "Northern Restless Sacred Tender Wicked Stolen Fallen Endless Little Twisted Lucky Dead").split()
_NOUN = ("Sands Harbor Kingdom Signal Garden Empire Witness Echo River Crown Circuit Orchard Tide "
         "Frontier Lantern Horizon Promise Engine Vow Hunter Mirror Storm Season Summer Ashes Bloom "
         "Ledger Station Saints Wolves Letters Heist Orbit Hearts Ghosts Tenants Island Rivals").split()
_PLACE = "Avalon Marrow Bay Kestrel Point Lisbon Ravenhill the North Paradise Valley Ironwood Eden Cairo".split()
_SUBJECTS = ["two estranged sisters", "a disgraced detective", "a reluctant heir", "a crew of misfits",
             "a small-town doctor", "a rookie pilot", "an aging rock star", "a teenage hacker",
             "a grieving father", "rival chefs", "a runaway bride", "a retired spy"]
_SETTINGS = ["in a coastal town", "on a remote island", "in near-future Tokyo", "in 1980s Berlin",
             "aboard a failing starship", "in the Scottish highlands", "in a crumbling mansion",
             "across the American West", "in a boarding school", "beneath a drowned city"]
DEVICES = np.array(["tv", "mobile", "tablet", "web"], dtype=object)
DEVICE_BASE = np.array([0.45, 0.30, 0.10, 0.15])
ENGAGEMENT_CODES = ["play", "thumb_up", "thumb_down", "add_to_list", "trailer", "preview"]
PLAY, UP, DOWN, LIST, TRAILER, PREVIEW = range(6)
#: Service-wide share of viewing by hour of day: low at night, peaks in the evening.
HOUR_CURVE = np.array([3, 2, 1, .6, .4, .4, .6, 1, 1.5, 1.8, 2, 2.3, 2.8, 3, 3, 3.2, 3.6, 4.2,
                       5.5, 7, 8.5, 9, 7.5, 5])
_BROWSE_ONLY = 0.08  # share of sessions with browsing but no pick
_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # the dtype validate_events gives string columns


@dataclass
class SyntheticConfig:
    """Size and behaviour of a synthetic log; events ~= n_users * events_per_user."""

    seed: int = field(default=0, metadata={"help": "random seed; the same config gives identical logs"})
    n_users: int = field(default=500, metadata={"help": "number of users"})
    events_per_user: float = field(default=80.0, metadata={"help": "mean events per user (all engagements)"})
    n_films: int = field(default=300, metadata={"help": "number of films in the catalog"})
    n_series: int = field(default=50, metadata={"help": "number of shows; each episode is an item"})
    episodes_per_series: tuple = field(default=(6, 30), metadata={
        "help": "(min, max) episodes per show, split into seasons of at most 10"})
    n_genres: int = field(default=15, metadata={"help": f"taste dimensions: the first N of {len(GENRES)} genres"})
    taste_concentration: float = field(default=0.25, metadata={
        "help": "Dirichlet alpha of user tastes over genres; small = few favourite genres"})
    explore: float = field(default=0.1, metadata={"help": "share of fresh picks whose genre ignores taste"})
    start: str = field(default="2024-01-01", metadata={"help": "first day of the log (UTC date)"})
    days: int = field(default=180, metadata={"help": "length of the log in days"})
    weekend_boost: float = field(default=1.6, metadata={"help": "sessions on a weekend day vs a weekday"})
    picks_per_session: float = field(default=1.5, metadata={"help": "mean titles picked per session"})
    film_share: float = field(default=0.45, metadata={"help": "share of fresh picks that are films (else shows)"})
    binge_mean: float = field(default=2.5, metadata={"help": "mean consecutive episodes per show pick"})
    return_prob: float = field(default=0.4, metadata={"help": "chance a pick returns to a title picked before"})
    rewatch_prob: float = field(default=0.5, metadata={"help": "chance a return to a film is kept as a rewatch (and a finished show is restarted)"})
    resume_prob: float = field(default=0.7, metadata={"help": "chance a partial play is resumed next session"})
    thumb_rate: float = field(default=0.12, metadata={"help": "base chance of a thumb after a play"})
    list_prob: float = field(default=0.1, metadata={"help": "chance a fresh pick was added to the list before"})
    noise_share: float = field(default=0.25, metadata={"help": "target share of events that are trailers/previews"})
    preview_share: float = field(default=0.65, metadata={"help": "share of the noise that is autoplay previews"})
    noise_taste: float = field(default=0.25, metadata={"help": "how much noise titles follow taste (0 = not at all)"})
    chunk_users: int = field(default=20000, metadata={"help": "users generated at once (bounds memory)"})

    def __post_init__(self):
        def num(v):
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        eps = self.episodes_per_series
        self.episodes_per_series = tuple(eps) if isinstance(eps, (list, tuple)) else eps
        eps = self.episodes_per_series
        checks = [(n, isinstance(getattr(self, n), (int, np.integer)) and getattr(self, n) >= 1, "an integer >= 1")
                  for n in ("n_users", "n_films", "n_series", "days", "chunk_users")]
        checks += [(n, num(getattr(self, n)) and 0 <= getattr(self, n) <= 1, "a number in [0, 1]")
                   for n in ("explore", "film_share", "return_prob", "rewatch_prob", "resume_prob",
                             "thumb_rate", "list_prob", "preview_share", "noise_taste")]
        checks += [(n, num(getattr(self, n)) and getattr(self, n) >= lo, f"a number >= {lo}")
                   for n, lo in (("events_per_user", 1), ("picks_per_session", 1), ("binge_mean", 1))]
        checks += [(n, num(getattr(self, n)) and getattr(self, n) > 0, "a number > 0")
                   for n in ("taste_concentration", "weekend_boost")]
        checks += [("seed", isinstance(self.seed, (int, np.integer)) and self.seed >= 0, "an integer >= 0"),
                   ("n_genres", isinstance(self.n_genres, int) and 2 <= self.n_genres <= len(GENRES),
                    f"an integer in [2, {len(GENRES)}]"),
                   ("noise_share", num(self.noise_share) and 0 <= self.noise_share <= 0.9, "a number in [0, 0.9]"),
                   ("episodes_per_series", isinstance(eps, tuple) and len(eps) == 2
                    and all(isinstance(e, int) for e in eps) and 1 <= eps[0] <= eps[1] <= 500,
                    "two integers (min, max) with 1 <= min <= max <= 500")]
        for name, ok, fix in checks:
            if not ok:
                raise InputError(f"{name}={getattr(self, name)!r} is not valid", field=name, fix=f"use {fix}")
        try:
            pd.Timestamp(self.start)
        except (ValueError, TypeError):
            raise InputError(f"start={self.start!r} is not a date", field="start", fix="use YYYY-MM-DD") from None

    @classmethod
    def for_events(cls, n_events: int, **overrides) -> "SyntheticConfig":
        """A config of about ``n_events`` events with a catalog that grows with the user base."""
        epu = overrides.get("events_per_user", cls.events_per_user)
        n_users = max(1, round(n_events / epu))
        n_films = int(min(5000, max(100, n_users // 2)))
        sizes = dict(n_users=n_users, n_films=n_films, n_series=max(10, n_films // 6))
        return cls(**{**sizes, **overrides})


def _cdf_rows(p: np.ndarray) -> np.ndarray:
    """Row-wise CDFs shifted by the row number, so one searchsorted samples every row at once."""
    c = np.cumsum(p, axis=1)
    c /= c[:, -1:]
    c[:, -1] = 1.0
    return (c + np.arange(len(c))[:, None]).ravel()


def _draw(rng, flat_cdf: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """One category per entry of ``rows`` from the row's CDF in ``flat_cdf`` (k categories a row)."""
    pos = np.searchsorted(flat_cdf, rows + rng.random(len(rows)), side="right") - rows * k
    return np.minimum(pos, k - 1)


def _titles(rng, n: int) -> list[str]:
    base = [f"{a} {b}" for a in _ADJ for b in _NOUN] + [f"{b} of {p}" for b in _NOUN for p in _PLACE]
    order = rng.permutation(len(base))  # beyond the pool, titles get sequel numbers ("Lost Echo 2")
    return [base[order[i % len(base)]] + (f" {i // len(base) + 1}" if i >= len(base) else "") for i in range(n)]


def _catalog(rng, cfg: SyntheticConfig):
    """Catalog frame plus the arrays the simulation needs, indexed by title (films then shows)."""
    G, nf, ns = cfg.n_genres, cfg.n_films, cfg.n_series
    T, gpop = nf + ns, GENRE_POP[:G] / GENRE_POP[:G].sum()
    kind = np.r_[np.zeros(nf, int), np.ones(ns, int)]
    primary = rng.choice(G, T, p=gpop)
    primary[:min(nf, G)], primary[nf:nf + min(ns, G)] = np.arange(min(nf, G)), np.arange(min(ns, G))
    keys = np.log(gpop) + rng.gumbel(size=(T, G))  # extra genres, weighted by genre popularity
    keys[np.arange(T), primary] = -np.inf
    extra, n_extra = np.argsort(-keys, axis=1)[:, :2], rng.choice(3, T, p=[0.35, 0.45, 0.2])
    member = np.zeros((T, G))
    member[np.arange(T), primary] = 1.0
    for j in range(2):
        sel = n_extra > j
        member[np.flatnonzero(sel), extra[sel, j]] = 0.4  # secondary genres draw fewer picks
    pop = rng.lognormal(0, 1.0, T)
    lo, hi = cfg.episodes_per_series
    n_items = np.where(kind == 0, 1, rng.integers(lo, hi + 1, T))
    first_item = np.r_[0, np.cumsum(n_items)[:-1]]
    short = np.isin(primary, [GENRES.index(g) for g in ("Comedy", "Animation", "Family", "Reality", "Anime")])
    base_rt = np.where(kind == 0, np.clip(rng.normal(108, 18, T) - 12 * short, 75, 180),
                       np.where(short, rng.uniform(21, 30, T), rng.uniform(42, 60, T)))
    year = np.clip(2025 - rng.exponential(9, T), 1955, 2025).astype(int)
    names = _titles(rng, T)
    rows, runtime = [], []
    for t in range(T):
        genres = [GENRES[g] for g in np.flatnonzero(member[t])[np.argsort(-member[t][member[t] > 0])]]
        tags = list(rng.choice(GENRE_TAGS[primary[t]], rng.integers(1, 3), replace=False)) + \
            list(rng.choice(COMMON_TAGS, rng.integers(1, 3), replace=False))
        about = f"{_SUBJECTS[rng.integers(len(_SUBJECTS))]} {_SETTINGS[rng.integers(len(_SETTINGS))]}"
        if kind[t] == 0:
            text = f"A {', '.join(tags[:2])} {genres[0].lower()} film about {about}."
            rows.append((f"f{t:05d}", names[t], year[t], genres, tags, text, None))
            runtime.append(base_rt[t])
            continue
        n_seasons = -(-n_items[t] // 10)
        per = -(-n_items[t] // n_seasons)
        start_year = min(year[t], 2026 - n_seasons)
        for e in range(n_items[t]):
            s, k = e // per + 1, e % per + 1
            text = f"Season {s}, episode {k} of a {', '.join(tags[:2])} {genres[0].lower()} series about {about}."
            rows.append((f"s{t - nf:04d}e{s:02d}{k:02d}", f"{names[t]}: S{s}E{k}", start_year + s - 1,
                         genres, tags, text, names[t]))
        runtime.extend(np.clip(base_rt[t] + rng.uniform(-4, 4, n_items[t]), 15, None))
    catalog = validate_catalog(pd.DataFrame(rows, columns=["item_id", "title", "year", "genres", "tags",
                                                           "text", "series"]))
    # Sampling pools: one CDF segment per (kind, genre) with weight popularity x membership.
    cdf, pool = [], []
    for s in range(2 * G):
        w = np.where(kind == s // G, pop * member[:, s % G], 0.0)
        if not w.any():
            w = np.where(kind == s // G, pop, 0.0)  # a genre with no show: any show will do
        idx = np.flatnonzero(w)
        c = np.cumsum(w[idx]) / w[idx].sum()
        c[-1] = 1.0
        cdf.append(c + s), pool.append(idx)
    return catalog, dict(kind=kind, member=member, first_item=first_item, n_items=n_items, gpop=gpop,
                         runtime=np.asarray(runtime), pool_cdf=np.concatenate(cdf), pool=np.concatenate(pool))


def _pick_titles(rng, cat: dict, seg: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(cat["pool_cdf"], seg + rng.random(len(seg)), side="right")
    return cat["pool"][np.minimum(pos, len(cat["pool"]) - 1)]


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..n-1 within each consecutive group of the given sizes."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(counts.sum()) - starts


def _signal_per_session(cfg: SyntheticConfig) -> float:
    plays = cfg.film_share + (1 - cfg.film_share) * cfg.binge_mean * 1.25  # liked shows run longer
    picks = (1 - _BROWSE_ONLY) * cfg.picks_per_session
    return picks * (plays * (1 + cfg.thumb_rate + 0.12 * cfg.resume_prob) + cfg.list_prob) + cfg.list_prob / 2


def _chunk(rng, cfg: SyntheticConfig, cat: dict, C: int, t0: int, dow0: int) -> tuple[dict, dict]:
    G, k_sig = cfg.n_genres, _signal_per_session(cfg)
    # Users: planted taste, device mix, peak hour, activity.
    taste = rng.dirichlet(np.full(G, cfg.taste_concentration), C)
    taste_cdf = _cdf_rows((1 - cfg.explore) * taste + cfg.explore * cat["gpop"])
    noise_cdf = _cdf_rows(cfg.noise_taste * taste + (1 - cfg.noise_taste) * cat["gpop"])
    dev_mix = rng.dirichlet(DEVICE_BASE * 8, C)
    peak = rng.choice([21.0, 13.0, 0.5], C, p=[0.75, 0.15, 0.1]) + rng.normal(0, 1.2, C)
    mean_sess = cfg.events_per_user * (1 - cfg.noise_share) / k_sig
    n_sess = 1 + rng.poisson(np.maximum(mean_sess * rng.gamma(2.0, 0.5, C) - 1, 0))
    # Sessions: weekend-weighted day, hour near the user's peak or on the service curve.
    su = np.repeat(np.arange(C), n_sess)
    S = len(su)
    day_w = np.where((dow0 + np.arange(cfg.days)) % 7 >= 5, cfg.weekend_boost, 1.0)
    day = _draw(rng, _cdf_rows(day_w[None]), np.zeros(S, int), cfg.days)
    hour = np.where(rng.random(S) < 0.6, peak[su] + rng.normal(0, 1.5, S),
                    _draw(rng, _cdf_rows(HOUR_CURVE[None]), np.zeros(S, int), 24) + rng.random(S)) % 24
    start = day * 86400 + (hour * 3600).astype(np.int64)
    start = start[np.lexsort((start, su))]
    device = _draw(rng, _cdf_rows(dev_mix), su, len(DEVICES))
    n_pick = np.where(rng.random(S) < _BROWSE_ONLY, 0, rng.geometric(1 / cfg.picks_per_session, S))
    first = np.searchsorted(su, np.arange(C))
    n_pick[first] = np.maximum(n_pick[first], 1)  # every user watches something
    # Picks: fresh (genre from taste, title by popularity) or a return to an earlier pick.
    ps = np.repeat(np.arange(S), n_pick)
    pu, block = su[ps], _ranks(n_pick) + 1
    P = len(ps)
    ufirst = np.searchsorted(pu, pu)
    rank = np.arange(P) - ufirst
    fresh_kind = (rng.random(P) >= cfg.film_share).astype(int)
    fresh = _pick_titles(rng, cat, fresh_kind * G + _draw(rng, taste_cdf, pu, G))
    is_ret = (rank > 0) & (rng.random(P) < cfg.return_prob)
    root = np.arange(P)
    root[is_ret] = ufirst[is_ret] + (rng.random(is_ret.sum()) * rank[is_ret]).astype(int)
    while not np.array_equal(root, root[root]):  # pointer jumping: follow returns to the first pick
        root = root[root]
    title = fresh[root]

    def affinity(t):  # taste mass on the title's genres, relative to the user's favourite genre
        return np.clip((taste[pu] * (cat["member"][t] > 0)).sum(1) / taste[pu].max(1), 0, 1)
    # Users come back to what they like: a return is kept with chance ~ affinity (films: rarely).
    keep = rng.random(P) < affinity(title) * np.where(cat["kind"][title] == 0, cfg.rewatch_prob, 1.0)
    drop = is_ret & ~keep
    title[drop], is_ret[drop] = fresh[drop], False
    aff = affinity(title)
    # Shows: liked shows are binged longer, on from where this user stopped.
    is_show = cat["kind"][title] == 1
    binge = 1 + (cfg.binge_mean - 1) * 2 * aff ** 2
    want = np.where(is_show, np.minimum(rng.geometric(1 / binge), 50), 1)
    order = np.argsort(pu.astype(np.int64) * len(cat["kind"]) + title, kind="stable")
    key_sorted = (pu.astype(np.int64) * len(cat["kind"]) + title)[order]
    cs = np.cumsum(want[order]) - want[order]
    group_start = np.r_[0, np.flatnonzero(np.diff(key_sorted)) + 1]
    first_of = np.repeat(group_start, np.diff(np.r_[group_start, P]))
    ep0 = np.empty(P, np.int64)
    ep0[order] = cs - cs[first_of]
    ep0[~is_show] = 0
    n_eps = cat["n_items"][title]
    wrap = rng.random(P) < cfg.rewatch_prob  # a finished show is rewatched from the start, or left
    n_play = np.where(wrap, want, np.clip(n_eps - ep0, 0, want))
    # Plays: affinity -> full vs partial, thumbs; partial plays may resume next session.
    k = np.repeat(np.arange(P), n_play)
    ep, a, n = _ranks(n_play), aff[k], len(k)
    item, sess = cat["first_item"][title[k]] + (ep0[k] + ep) % n_eps[k], ps[k]
    last = ep == n_play[k] - 1  # the last title of a pick is often left unfinished (bedtime)
    full = rng.random(n) < 0.3 + 0.6 * a - 0.25 * last
    frac = np.where(full, rng.uniform(0.93, 1.0, n), np.clip(rng.beta(1.3, 3.5, n), 0.02, 0.9))
    rt = cat["runtime"][item]
    key = block[k] * 4096 + 2 * ep + 2
    up = rng.random(n) < cfg.thumb_rate * 2 * a * np.where(full, 1.0, 0.3)
    down = ~up & (rng.random(n) < cfg.thumb_rate * (1 - a) * np.where(full, 0.5, 2.0))
    has_next = (sess + 1 < S) & (su[np.minimum(sess + 1, S - 1)] == su[sess])
    res = ~full & (frac > 0.15) & has_next & (rng.random(n) < cfg.resume_prob)
    # List adds: for fresh picks, in a session at or before the pick; plus unwatched wishes.
    lp = np.flatnonzero(~is_ret & (n_play > 0) & (ep0 < n_eps) & (rng.random(P) < cfg.list_prob))
    lp_sess = np.searchsorted(su, pu[lp]) + (rng.random(len(lp)) * (ps[lp] - np.searchsorted(su, pu[lp]) + 1)).astype(int)
    n_wish = rng.poisson(cfg.list_prob / 2, S)
    wish_s = np.repeat(np.arange(S), n_wish)
    wish = _pick_titles(rng, cat, (rng.random(len(wish_s)) >= cfg.film_share) * G + _draw(rng, taste_cdf, su[wish_s], G))
    # Noise: trailers and previews while browsing, titles only weakly tied to taste.
    signal = n + up.sum() + down.sum() + res.sum() + len(lp) + len(wish)
    n_noise = rng.poisson(cfg.noise_share / (1 - cfg.noise_share) * signal / S, S)
    ns = np.repeat(np.arange(S), n_noise)
    nt = _pick_titles(rng, cat, (rng.random(len(ns)) >= cfg.film_share) * G + _draw(rng, noise_cdf, su[ns], G))
    is_prev = rng.random(len(ns)) < cfg.preview_share
    n_dur = np.where(is_prev, rng.uniform(0.1, 1.0, len(ns)), rng.uniform(1.0, 2.5, len(ns)))

    def block_in(s):  # a random position among the picks of session s
        return (rng.random(len(s)) * (n_pick[s] + 1)).astype(np.int64) * 4096
    parts = [  # (session, order key, item, engagement, duration_min, seconds until the next event)
        (sess, key, item, np.full(n, PLAY), rt * frac, rt * frac * 60 + rng.uniform(5, 90, n)),
        (sess[up], key[up] + 1, item[up], np.full(up.sum(), UP), None, rng.uniform(2, 20, up.sum())),
        (sess[down], key[down] + 1, item[down], np.full(down.sum(), DOWN), None, rng.uniform(2, 20, down.sum())),
        (sess[res] + 1, np.zeros(res.sum(), np.int64), item[res], np.full(res.sum(), PLAY),
         (rt * (1 - frac))[res], (rt * (1 - frac))[res] * 60 + 30),
        (lp_sess, block_in(lp_sess) + 4095, cat["first_item"][title[lp]] + ep0[lp], np.full(len(lp), LIST),
         None, rng.uniform(3, 30, len(lp))),
        (wish_s, block_in(wish_s) + 4095, cat["first_item"][wish], np.full(len(wish), LIST), None,
         rng.uniform(3, 30, len(wish))),
        (ns, block_in(ns) + 1, cat["first_item"][nt], np.where(is_prev, PREVIEW, TRAILER), n_dur,
         n_dur * 60 + rng.uniform(1, 30, len(ns))),
    ]
    e_sess, e_key, e_item, e_eng, e_dur, e_step = (np.concatenate([
        np.full(len(p[0]), np.nan) if p[j] is None else p[j] for p in parts]) for j in range(6))
    e_sess, e_key = e_sess.astype(np.int64), e_key.astype(np.int64)
    o = np.lexsort((e_key, e_sess))
    e_sess, e_item, e_eng, e_dur = e_sess[o], e_item[o].astype(np.int32), e_eng[o].astype(np.int8), e_dur[o]
    step = np.maximum(np.ceil(e_step[o]), 1).astype(np.int64)
    # Time: back to back within a session; push sessions later so none overlaps the previous one.
    cs = np.cumsum(step) - step
    offset = cs - cs[np.searchsorted(e_sess, e_sess)]
    length = np.bincount(e_sess, weights=step, minlength=S).astype(np.int64) + 60
    before = np.cumsum(length) - length
    before -= before[np.searchsorted(su, su)]
    big = np.int64(1) << 40
    start = np.maximum.accumulate(start - before + su * big) - su * big + before
    ev = dict(user=su[e_sess], ts=t0 + start[e_sess] + offset, item=e_item, eng=e_eng,
              dur=np.round(e_dur, 2), dev=device[e_sess].astype(np.int8))
    return ev, dict(taste=taste, dev_mix=dev_mix, peak=peak % 24, returns=int(is_ret.sum()),
                    resumes=int(res.sum()), picks=P, sessions=S)


def _play_stats(ev: dict, cat: dict, n_items: int) -> dict:
    """Discovery counts: a play is Discovery if the user had no earlier event (or play) on the item."""
    pair = ev["user"].astype(np.int64) * n_items + ev["item"]
    first_any = np.zeros(len(pair), bool)
    first_any[np.unique(pair, return_index=True)[1]] = True
    play = np.flatnonzero(ev["eng"] == PLAY)
    first_play = np.zeros(len(play), bool)
    first_play[np.unique(pair[play], return_index=True)[1]] = True
    item, user = ev["item"][play], ev["user"][play]
    show_of = np.repeat(np.arange(len(cat["n_items"])), cat["n_items"])
    next_ep = (user[1:] == user[:-1]) & (item[1:] == item[:-1] + 1) & (show_of[item[1:]] == show_of[item[:-1]])
    return dict(plays=len(play), discovery=int(first_any[play].sum()), first_plays=int(first_play.sum()),
                next_episode=int(next_ep.sum()))


def generate(config: SyntheticConfig) -> tuple[EventLog, dict]:
    """Synthetic events and catalog (already in the validated form), and the planted truth."""
    cfg = config
    seeds = np.random.SeedSequence(cfg.seed)
    catalog, cat = _catalog(np.random.default_rng(seeds.spawn(1)[0]), cfg)
    t0 = int(pd.Timestamp(cfg.start, tz="UTC").normalize().timestamp())
    dow0 = pd.Timestamp(cfg.start).dayofweek
    chunks = range(0, cfg.n_users, cfg.chunk_users)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([cfg.seed, 1]).spawn(len(chunks))]
    evs, infos, stats = [], [], {}
    for lo, rng in zip(chunks, rngs):
        ev, info = _chunk(rng, cfg, cat, min(cfg.chunk_users, cfg.n_users - lo), t0, dow0)
        for name, v in _play_stats(ev, cat, len(catalog)).items():
            stats[name] = stats.get(name, 0) + v
        ev["user"] = ev["user"].astype(np.int32) + lo
        evs.append(ev), infos.append(info)
    ev = {name: np.concatenate([e[name] for e in evs]) for name in evs[0]}
    width = len(str(cfg.n_users - 1))
    users = [f"u{i:0{width}d}" for i in range(cfg.n_users)]  # zero-padded: string order = numeric order

    def strings(values, codes):
        return pd.array(pa.array(values, pa.string()).take(pa.array(codes)), dtype=_STR)
    events = pd.DataFrame({"user_id": strings(users, ev["user"]), "timestamp": ev["ts"],
                           "item_id": strings(catalog["item_id"].to_numpy(object), ev["item"]),
                           "engagement": strings(ENGAGEMENT_CODES, ev["eng"]),
                           "duration_min": ev["dur"].astype(np.float64), "device": pd.Series(DEVICES[ev["dev"]], dtype=object),
                           "rating": np.full(len(ev["ts"]), np.nan)})[EVENT_COLUMNS]
    log = EventLog(events, catalog, name=f"synthetic-{cfg.seed}", meta={"source": "synthetic", "config": asdict(cfg)})
    return log, _truth(cfg, ev, infos, stats, users)


def _truth(cfg, ev, infos, stats, users) -> dict:
    counts = np.bincount(ev["eng"], minlength=len(ENGAGEMENT_CODES))
    taste, dev_mix = np.concatenate([i["taste"] for i in infos]), np.concatenate([i["dev_mix"] for i in infos])
    peak = np.concatenate([i["peak"] for i in infos])
    top = np.argsort(-taste, axis=1)[:, :3]
    genres = GENRES[:cfg.n_genres]
    noise = int(sum(counts[ENGAGEMENT_CODES.index(e)] for e in NOISE_ENGAGEMENTS))
    plays = stats["plays"]
    return {
        "config": asdict(cfg), "genres": genres, "devices": list(DEVICES),
        "events": int(len(ev["ts"])), "counts": {e: int(c) for e, c in zip(ENGAGEMENT_CODES, counts)},
        "noise": {"rule": "engagement in NOISE_ENGAGEMENTS", "engagements": sorted(NOISE_ENGAGEMENTS),
                  "events": noise, "share": noise / max(len(ev["ts"]), 1)},
        "plays": {**stats, "non_discovery_share": 1 - stats["discovery"] / max(plays, 1),
                  "replay_share": 1 - stats["first_plays"] / max(plays, 1),
                  "returns": sum(i["returns"] for i in infos), "resumes": sum(i["resumes"] for i in infos),
                  "picks": sum(i["picks"] for i in infos)},
        "sessions": sum(i["sessions"] for i in infos),
        "users": {u: {"top_genres": [[genres[g], round(float(taste[i, g]), 4)] for g in top[i]],
                      "devices": {d: round(float(w), 3) for d, w in zip(DEVICES, dev_mix[i])},
                      "peak_hour": round(float(peak[i]), 1)} for i, u in enumerate(users)},
    }


def write_truth(truth: dict, path) -> None:
    """Write the planted truth as JSON, atomically."""
    write_json(path, truth)
