"""Synthetic streaming logs in the shape of a Netflix-like service, with the truth that was planted.

The generative story (numpy, vectorised over one chunk of users at a time):

1. Catalog. Films and series; every episode is its own item whose ``series`` is the show's title
   ("Dark Sands: S1E3"). Titles are unique word-list combinations; each has a primary genre (from
   15 streaming genres, weighted by how common they are) plus up to two more, plot tags, a year,
   a runtime and a heavy-tailed popularity.
2. Users. A Dirichlet taste over genres (the planted truth), a device mix, a peak viewing hour.
3. Sessions. Days are weighted towards weekends; hours mix the user's peak with an evening-heavy
   service curve; one device per session.
4. Picks. A session holds a few picks. A pick returns to an earlier pick of the user (a show in
   progress, kept more often when liked; rarely a film rewatch) or is fresh: genre from taste
   (plus some exploration), then a title by popularity within that genre. A show pick binges the
   next episodes in order, longer for liked shows; a finished show is sometimes restarted.
5. Events. Plays are full (close to runtime) when the title fits the taste, otherwise mostly short
   partial plays, often resumed at the start of the next session (a non-Discovery play). Thumbs
   follow taste; some picks were put on the list in an earlier session. Trailers and autoplay
   previews are the planted noise: short, for titles only weakly tied to taste.
6. Time. Events of a session are back to back and sessions of a user never overlap, so timestamps
   strictly increase per user and no (user, item, timestamp, engagement) duplicate can occur.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
import pyarrow as pa

from ..atomic import write_json
from ..config import help_field
from ..errors import InputError
from .schema import EVENT_COLUMNS, NOISE_ENGAGEMENTS, EventLog, validate_catalog

GENRES = ["Drama", "Comedy", "Thriller", "Action", "Documentary", "Crime", "Romance", "Sci-Fi",
          "Animation", "Horror", "Fantasy", "Family", "Mystery", "Reality", "Anime"]
GENRE_POP = np.array([14, 12, 9, 9, 6, 7, 6, 5, 5, 5, 4, 4, 4, 3, 3], float)
#: Plot tags typical of each genre, in GENRES order.
GENRE_TAGS = [t.split(", ") for t in (
    "slow-burn, heartfelt, family saga|witty, feel-good, quirky|suspenseful, twisty, paranoid|explosive, revenge, "
    "high-stakes|true story, eye-opening, nature|heist, gritty, police|romantic, bittersweet, second chances|"
    "dystopian, space, time travel|whimsical, colourful, talking animals|supernatural, gory, haunted|magical, epic, "
    "dragons|heartwarming, wholesome, adventure|whodunit, atmospheric, cold case|competition, unscripted, makeover|"
    "mecha, coming-of-age, shonen").split("|")]
COMMON_TAGS = ["nostalgic", "dark", "critically acclaimed", "based on a book", "ensemble cast",
               "small town", "underdog", "cerebral", "violent", "emotional", "inspiring", "period piece"]
_ADJ = ("Dark Silent Crimson Broken Golden Hidden Last Wild Lost Burning Frozen Hollow Iron Quiet "
        "Savage Bright Shadow Velvet Bitter Electric Distant Secret Scarlet Midnight Glass Paper "
        "Northern Restless Sacred Tender Wicked Stolen Fallen Endless Little Twisted Lucky Dead").split()
_NOUN = ("Sands Harbor Kingdom Signal Garden Empire Witness Echo River Crown Circuit Orchard Tide "
         "Frontier Lantern Horizon Promise Engine Vow Hunter Mirror Storm Season Summer Ashes Bloom "
         "Ledger Station Saints Wolves Letters Heist Orbit Hearts Ghosts Tenants Island Rivals").split()
_PLACE = "Avalon|Marrow Bay|Kestrel Point|Lisbon|Ravenhill|the North|Paradise Valley|Ironwood|Eden|Cairo|Babylon".split("|")
_SUBJECTS = ("two estranged sisters|a disgraced detective|a reluctant heir|a crew of misfits|a small-town doctor|"
             "a rookie pilot|an aging rock star|a teenage hacker|a grieving father|rival chefs|a retired spy").split("|")
_SETTINGS = ("in a coastal town|on a remote island|in near-future Tokyo|in 1980s Berlin|aboard a failing starship|"
             "in the Scottish highlands|in a crumbling mansion|across the American West|in a boarding school|"
             "beneath a drowned city").split("|")
DEVICES = np.array(["tv", "mobile", "tablet", "web"], dtype=object)
DEVICE_BASE = np.array([0.45, 0.30, 0.10, 0.15])
ENGAGEMENT_CODES = ["play", "thumb_up", "thumb_down", "add_to_list", "trailer", "preview"]
PLAY, UP, DOWN, LIST, TRAILER, PREVIEW = range(6)
#: Service-wide share of viewing by hour of day: low at night, peaks in the evening.
HOUR_CURVE = np.array([3, 2, 1, .6, .4, .4, .6, 1, 1.5, 1.8, 2, 2.3, 2.8, 3, 3, 3.2, 3.6, 4.2,
                       5.5, 7, 8.5, 9, 7.5, 5])
_BROWSE_ONLY = 0.08  # share of sessions with browsing but no pick
_SLOT = 4096  # order keys within a session: pick block * _SLOT + position inside the block
_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # the dtype validate_events gives string columns


def _f(default, help: str, lo=None, hi=None):
    return help_field(default, help, range=(lo, hi))


@dataclass
class SyntheticConfig:
    """Size and behaviour of a synthetic log; events ~= n_users * events_per_user."""

    seed: int = _f(0, "random seed; the same config gives identical logs", 0)
    n_users: int = _f(500, "number of users", 1)
    events_per_user: float = _f(80.0, "mean events per user (all engagements)", 1)
    n_films: int = _f(300, "number of films in the catalog", 1)
    n_series: int = _f(50, "number of shows; each episode is its own item", 1)
    episodes_per_series: tuple = _f((6, 30), "(min, max) episodes per show, in seasons of at most 10")
    n_genres: int = _f(15, f"taste dimensions: the first N of the {len(GENRES)} genres", 2, len(GENRES))
    taste_concentration: float = _f(0.25, "Dirichlet alpha of tastes over genres; small = few favourites", 1e-3)
    explore: float = _f(0.1, "share of fresh picks whose genre ignores taste", 0, 1)
    start: str = _f("2024-01-01", "first day of the log (UTC date)")
    days: int = _f(180, "length of the log in days", 1)
    weekend_boost: float = _f(1.6, "sessions on a weekend day relative to a weekday", 1e-3)
    picks_per_session: float = _f(1.5, "mean titles picked per session", 1)
    film_share: float = _f(0.45, "share of fresh picks that are films (else shows)", 0, 1)
    binge_mean: float = _f(2.5, "mean consecutive episodes per show pick", 1)
    return_prob: float = _f(0.4, "chance a pick returns to a title picked before", 0, 1)
    rewatch_prob: float = _f(0.5, "chance a return to a film is a rewatch; a finished show restarts", 0, 1)
    resume_prob: float = _f(0.7, "chance a partial play is resumed next session", 0, 1)
    thumb_rate: float = _f(0.12, "base chance of a thumb after a play", 0, 1)
    list_prob: float = _f(0.1, "chance a fresh pick was added to the list before", 0, 1)
    noise_share: float = _f(0.25, "share of events that are trailers or previews", 0, 0.9)
    preview_share: float = _f(0.65, "share of the noise that is autoplay previews", 0, 1)
    noise_taste: float = _f(0.25, "how much noise titles follow taste (0 = not at all)", 0, 1)
    chunk_users: int = _f(20000, "users generated at once; bounds memory (and seeds each chunk)", 1)

    def __post_init__(self):
        if isinstance(self.episodes_per_series, list):
            self.episodes_per_series = tuple(self.episodes_per_series)
        for f in fields(self):
            v, (lo, hi) = getattr(self, f.name), f.metadata["range"]
            if lo is None and hi is None:
                continue
            kinds = (int, np.integer) if f.type == "int" else (int, float, np.integer, np.floating)
            if not isinstance(v, kinds) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
                what = "an integer" if f.type == "int" else "a number"
                raise InputError(f"{f.name}={v!r} is not valid", field=f.name,
                                 fix=f"use {what} >= {lo}" + (f" and <= {hi}" if hi is not None else ""))
        eps = self.episodes_per_series
        if not (isinstance(eps, tuple) and len(eps) == 2 and all(isinstance(e, int) for e in eps)
                and 1 <= eps[0] <= eps[1] <= 500):
            raise InputError(f"episodes_per_series={eps!r} is not valid", field="episodes_per_series",
                             fix="use two integers (min, max) with 1 <= min <= max <= 500")
        _day0(self.start)

    @classmethod
    def for_events(cls, n_events: float, **overrides) -> "SyntheticConfig":
        """A config of about ``n_events`` events; the catalog grows with the users up to ~20k items."""
        n_users = max(1, round(n_events / overrides.get("events_per_user", cls.events_per_user)))
        n_films = int(min(5000, max(100, n_users // 2)))
        return cls(**{"n_users": n_users, "n_films": n_films, "n_series": max(10, n_films // 6), **overrides})


def _day0(start) -> pd.Timestamp:
    """Midnight UTC of the start date."""
    day = pd.to_datetime(start, utc=True, errors="coerce") if isinstance(start, str) else pd.NaT
    if pd.isna(day):
        raise InputError(f"start={start!r} is not a date", field="start", fix="use YYYY-MM-DD")
    return day.normalize()


def _cdf_rows(p: np.ndarray) -> np.ndarray:
    """Row-wise CDFs shifted by the row number, so one searchsorted samples every row at once."""
    c = np.cumsum(p, axis=1)
    c /= c[:, -1:]
    c[:, -1] = 1.0
    return (c + np.arange(len(c))[:, None]).ravel()


def _draw(rng, flat_cdf: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """One category per entry of ``rows`` from that row's CDF in ``flat_cdf`` (k categories a row)."""
    pos = np.searchsorted(flat_cdf, rows + rng.random(len(rows)), side="right") - rows * k
    return np.minimum(pos, k - 1)


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..n-1 within each consecutive group of the given sizes."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def _titles(rng, n: int) -> list[str]:
    """n unique titles: short ones first, then longer ones, then sequel numbers ("Lost Echo 2")."""
    short = [f"{a} {b}" for a in _ADJ for b in _NOUN] + [f"{b} of {p}" for b in _NOUN for p in _PLACE]
    long = [f"{a} {b} of {p}" for a in _ADJ for b in _NOUN for p in _PLACE]
    base = [short[i] for i in rng.permutation(len(short))] + [long[i] for i in rng.permutation(len(long))[:n]]
    return [base[i % len(base)] + (f" {i // len(base) + 1}" if i >= len(base) else "") for i in range(n)]


def _catalog(rng, cfg: SyntheticConfig) -> tuple[pd.DataFrame, dict]:
    """The catalog frame, and arrays for the simulation indexed by title (films, then shows)."""
    G, nf, T = cfg.n_genres, cfg.n_films, cfg.n_films + cfg.n_series
    gpop = GENRE_POP[:G] / GENRE_POP[:G].sum()
    kind = (np.arange(T) >= nf).astype(int)
    primary = rng.choice(G, T, p=gpop)  # the first G films and G shows cover every genre once
    primary[:min(nf, G)], primary[nf:nf + min(T - nf, G)] = np.arange(min(nf, G)), np.arange(min(T - nf, G))
    keys = np.log(gpop) + rng.gumbel(size=(T, G))  # extra genres, weighted by genre popularity
    keys[np.arange(T), primary] = -np.inf
    extra, n_extra = np.argsort(-keys, axis=1)[:, :2], rng.choice(3, T, p=[0.35, 0.45, 0.2])
    member = np.zeros((T, G))
    for j in range(2):
        member[np.flatnonzero(n_extra > j), extra[n_extra > j, j]] = 0.4  # secondary: fewer picks
    member[np.arange(T), primary] = 1.0
    pop, (lo, hi) = rng.lognormal(0, 1.0, T), cfg.episodes_per_series
    n_items = np.where(kind == 0, 1, rng.integers(lo, hi + 1, T))
    short = np.isin(primary, [GENRES.index(g) for g in ("Comedy", "Animation", "Family", "Reality", "Anime")])
    base_rt = np.where(kind == 0, np.clip(rng.normal(108, 18, T) - 12 * short, 75, 180),
                       np.where(short, rng.uniform(21, 30, T), rng.uniform(42, 60, T)))
    year, names = np.clip(2025 - rng.exponential(9, T), 1955, 2025).astype(int), _titles(rng, T)
    rows, runtime = [], []
    for t in range(T):
        genres = [GENRES[g] for g in np.argsort(-member[t], kind="stable")[:1 + n_extra[t]]]
        tags = [str(x) for x in rng.choice(GENRE_TAGS[primary[t]], rng.integers(1, 3), replace=False)]
        tags += [str(x) for x in rng.choice(COMMON_TAGS, rng.integers(1, 3), replace=False)]
        adj = ", ".join(tags[:2])
        about = f"{adj} {genres[0].lower()} {'film' if kind[t] == 0 else 'series'} about " \
                f"{_SUBJECTS[rng.integers(len(_SUBJECTS))]} {_SETTINGS[rng.integers(len(_SETTINGS))]}."
        article = "An" if adj[0] in "aeiou" else "A"
        if kind[t] == 0:
            rows.append((f"f{t:05d}", names[t], year[t], genres, tags, f"{article} {about}", None))
            runtime.append(base_rt[t])
            continue
        per = -(-n_items[t] // -(-n_items[t] // 10))  # even seasons of at most 10 episodes
        first_year = min(year[t], 2026 - -(-n_items[t] // per))
        for e in range(n_items[t]):
            s, k = e // per + 1, e % per + 1
            rows.append((f"s{t - nf:04d}e{s:02d}{k:02d}", f"{names[t]}: S{s}E{k}", first_year + s - 1, genres,
                         tags, f"Season {s}, episode {k} of {article.lower()} {about}", names[t]))
        runtime.extend(np.clip(base_rt[t] + rng.uniform(-4, 4, n_items[t]), 15, None))
    catalog = validate_catalog(pd.DataFrame(rows, columns=["item_id", "title", "year", "genres", "tags",
                                                           "text", "series"]))
    cdf, pool = [], []  # one CDF segment per (kind, genre), weight popularity x membership
    for s in range(2 * G):
        w = np.where(kind == s // G, pop * member[:, s % G], 0.0)
        w = w if w.any() else np.where(kind == s // G, pop, 0.0)  # a genre without shows: any show
        idx = np.flatnonzero(w)
        c = np.cumsum(w[idx]) / w[idx].sum()
        c[-1] = 1.0
        cdf.append(c + s), pool.append(idx)
    return catalog, dict(kind=kind, member=member > 0, first_item=np.cumsum(n_items) - n_items,
                         n_items=n_items, gpop=gpop, runtime=np.asarray(runtime),
                         pool_cdf=np.concatenate(cdf), pool=np.concatenate(pool))


def _pick_titles(rng, cfg: SyntheticConfig, cat: dict, genre: np.ndarray) -> np.ndarray:
    """A film or show (film_share) of the given genre, by popularity."""
    seg = (rng.random(len(genre)) >= cfg.film_share) * cfg.n_genres + genre
    pos = np.searchsorted(cat["pool_cdf"], seg + rng.random(len(seg)), side="right")
    return cat["pool"][np.minimum(pos, len(cat["pool"]) - 1)]


def _sessions(rng, cfg: SyntheticConfig, C: int, peak: np.ndarray, dev_mix: np.ndarray, dow0: int):
    """Per session: user, start (seconds from the log start, sorted per user), device, number of picks."""
    plays = cfg.film_share + (1 - cfg.film_share) * cfg.binge_mean * 1.25  # liked shows run longer
    signal = (1 - _BROWSE_ONLY) * cfg.picks_per_session * (
        plays * (1 + cfg.thumb_rate + 0.12 * cfg.resume_prob) + cfg.list_prob) + cfg.list_prob / 2
    mean = cfg.events_per_user * (1 - cfg.noise_share) / signal
    su = np.repeat(np.arange(C), 1 + rng.poisson(np.maximum(mean * rng.gamma(2.0, 0.5, C) - 1, 0)))
    S = len(su)
    day_w = np.where((dow0 + np.arange(cfg.days)) % 7 >= 5, cfg.weekend_boost, 1.0)
    day = _draw(rng, _cdf_rows(day_w[None]), np.zeros(S, int), cfg.days)
    hour = np.where(rng.random(S) < 0.6, peak[su] + rng.normal(0, 1.5, S),
                    _draw(rng, _cdf_rows(HOUR_CURVE[None]), np.zeros(S, int), 24) + rng.random(S)) % 24
    start = day * 86400 + (hour * 3600).astype(np.int64)
    start = start[np.lexsort((start, su))]
    n_pick = np.where(rng.random(S) < _BROWSE_ONLY, 0, rng.geometric(1 / cfg.picks_per_session, S))
    first = np.searchsorted(su, np.arange(C))
    n_pick[first] = np.maximum(n_pick[first], 1)  # every user watches something
    return su, start, _draw(rng, _cdf_rows(dev_mix), su, len(DEVICES)), n_pick


def _picks(rng, cfg: SyntheticConfig, cat: dict, taste: np.ndarray, taste_cdf, pu: np.ndarray):
    """Per pick: title, whether it returns to an earlier pick, first episode, episodes played, affinity."""
    P, T = len(pu), len(cat["kind"])
    ufirst = np.searchsorted(pu, pu)
    rank = np.arange(P) - ufirst
    fresh = _pick_titles(rng, cfg, cat, _draw(rng, taste_cdf, pu, cfg.n_genres))
    is_ret = (rank > 0) & (rng.random(P) < cfg.return_prob)
    root = np.arange(P)
    root[is_ret] = ufirst[is_ret] + (rng.random(is_ret.sum()) * rank[is_ret]).astype(int)
    while not np.array_equal(root, root[root]):  # pointer jumping: follow returns to a fresh pick
        root = root[root]
    title = fresh[root]

    def affinity(t):  # taste mass on the title's genres, relative to the user's favourite genre
        return np.clip((taste[pu] * cat["member"][t]).sum(1) / taste[pu].max(1), 0, 1)
    keep = rng.random(P) < affinity(title) * np.where(cat["kind"][title] == 0, cfg.rewatch_prob, 1.0)
    drop = is_ret & ~keep  # users come back to what they like; to films rarely
    title[drop], is_ret[drop] = fresh[drop], False
    aff, is_show = affinity(title), cat["kind"][title] == 1
    want = np.where(is_show, np.minimum(rng.geometric(1 / (1 + (cfg.binge_mean - 1) * 2 * aff ** 2)), 12), 1)
    # Each show pick goes on from where this user stopped: cumulative episodes per (user, show).
    key = pu.astype(np.int64) * T + title
    order = np.argsort(key, kind="stable")
    cs = np.cumsum(want[order]) - want[order]
    ep0 = np.empty(P, np.int64)
    ep0[order] = cs - cs[np.searchsorted(key[order], key[order])]
    ep0[~is_show] = 0
    n_eps = cat["n_items"][title]
    n_play = np.where(rng.random(P) < cfg.rewatch_prob, want, np.clip(n_eps - ep0, 0, want))
    return title, is_ret, ep0, n_eps, n_play, aff


def _events(rng, cfg, cat, taste, su, n_pick, ps, picks) -> tuple[list, dict]:
    """Event parts (session, order key, item, engagement, minutes, seconds to the next event)."""
    title, is_ret, ep0, n_eps, n_play, aff = picks
    S, G, block = len(su), cfg.n_genres, _ranks(n_pick) + 1
    k = np.repeat(np.arange(len(ps)), n_play)
    ep, a, n = _ranks(n_play), aff[k], len(k)
    item, sess = cat["first_item"][title[k]] + (ep0[k] + ep) % n_eps[k], ps[k]
    key = block[k] * _SLOT + 2 * ep + 2
    last = ep == n_play[k] - 1  # the last title of a pick is often left unfinished (bedtime)
    full = rng.random(n) < 0.3 + 0.6 * a - 0.25 * last
    frac = np.where(full, rng.uniform(0.93, 1.0, n), np.clip(rng.beta(1.3, 3.5, n), 0.02, 0.9))
    mins = cat["runtime"][item] * frac
    up = rng.random(n) < cfg.thumb_rate * 2 * a * np.where(full, 1.0, 0.3)
    down = ~up & (rng.random(n) < cfg.thumb_rate * (1 - a) * np.where(full, 0.5, 2.0))
    has_next = (sess + 1 < S) & (su[np.minimum(sess + 1, S - 1)] == su[sess])
    res = ~full & (frac > 0.15) & has_next & (rng.random(n) < cfg.resume_prob)
    rest = cat["runtime"][item[res]] - mins[res]
    # List adds: fresh picks, in a session of the user at or before the pick; plus unwatched wishes.
    lp = np.flatnonzero(~is_ret & (n_play > 0) & (ep0 < n_eps) & (rng.random(len(ps)) < cfg.list_prob))
    first = np.searchsorted(su, su[ps[lp]])
    lp_sess = first + (rng.random(len(lp)) * (ps[lp] - first + 1)).astype(int)
    wish_s = np.repeat(np.arange(S), rng.poisson(cfg.list_prob / 2, S))
    wish = _pick_titles(rng, cfg, cat, _draw(rng, _cdf_rows(taste), su[wish_s], G))
    # Noise: trailers and previews while browsing, for titles only weakly tied to taste.
    signal = n + up.sum() + down.sum() + res.sum() + len(lp) + len(wish)
    ns = np.repeat(np.arange(S), rng.poisson(cfg.noise_share / (1 - cfg.noise_share) * signal / S, S))
    noise_cdf = _cdf_rows(cfg.noise_taste * taste + (1 - cfg.noise_taste) * cat["gpop"])
    nt = _pick_titles(rng, cfg, cat, _draw(rng, noise_cdf, su[ns], G))
    prev = rng.random(len(ns)) < cfg.preview_share
    n_mins = np.where(prev, rng.uniform(0.1, 1.0, len(ns)), rng.uniform(1.0, 2.5, len(ns)))

    def slot(s):  # a random place between the picks of session s
        return (rng.random(len(s)) * (n_pick[s] + 1)).astype(np.int64) * _SLOT

    parts = [
        (sess, key, item, np.full(n, PLAY), mins, mins * 60 + rng.uniform(5, 90, n)),
        (sess[up], key[up] + 1, item[up], np.full(up.sum(), UP), None, rng.uniform(2, 20, up.sum())),
        (sess[down], key[down] + 1, item[down], np.full(down.sum(), DOWN), None, rng.uniform(2, 20, down.sum())),
        (sess[res] + 1, np.full(res.sum(), 0), item[res], np.full(res.sum(), PLAY), rest, rest * 60 + 30),
        (lp_sess, slot(lp_sess) + _SLOT - 1, cat["first_item"][title[lp]] + ep0[lp], np.full(len(lp), LIST),
         None, rng.uniform(3, 30, len(lp))),
        (wish_s, slot(wish_s) + _SLOT - 1, cat["first_item"][wish], np.full(len(wish), LIST), None,
         rng.uniform(3, 30, len(wish))),
        (ns, slot(ns) + 1, cat["first_item"][nt], np.where(prev, PREVIEW, TRAILER), n_mins,
         n_mins * 60 + rng.uniform(1, 30, len(ns))),
    ]
    return parts, dict(resumes=int(res.sum()), returns=int(is_ret.sum()), picks=len(ps), sessions=S)


def _clock(su, start, parts) -> tuple[np.ndarray, ...]:
    """Order events within sessions, lay them back to back, and push sessions so none overlap."""
    sess, key, item, eng, mins, secs = (np.concatenate([
        np.full(len(p[0]), np.nan) if p[j] is None else p[j] for p in parts]) for j in range(6))
    o = np.lexsort((key, sess))
    sess = sess[o].astype(np.int64)
    step = np.maximum(np.ceil(secs[o]), 1).astype(np.int64)
    cs = np.cumsum(step) - step
    offset = cs - cs[np.searchsorted(sess, sess)]
    length = np.bincount(sess, weights=step, minlength=len(su)).astype(np.int64) + 60
    before = np.cumsum(length) - length
    before -= before[np.searchsorted(su, su)]
    # start'[s] = max over earlier sessions k of (start[k] - before[k]) + before[s]; per user via a big offset.
    big = np.int64(1) << 40
    start = np.maximum.accumulate(start - before + su * big) - su * big + before
    return sess, start[sess] + offset, item[o].astype(np.int32), eng[o].astype(np.int8), np.round(mins[o], 2)


def _chunk(rng, cfg: SyntheticConfig, cat: dict, C: int, t0: int, dow0: int) -> tuple[dict, dict]:
    taste = rng.dirichlet(np.full(cfg.n_genres, cfg.taste_concentration), C)
    dev_mix = rng.dirichlet(DEVICE_BASE * 8, C)
    peak = rng.choice([21.0, 13.0, 0.5], C, p=[0.75, 0.15, 0.1]) + rng.normal(0, 1.2, C)
    su, start, device, n_pick = _sessions(rng, cfg, C, peak, dev_mix, dow0)
    ps = np.repeat(np.arange(len(su)), n_pick)
    taste_cdf = _cdf_rows((1 - cfg.explore) * taste + cfg.explore * cat["gpop"])
    picks = _picks(rng, cfg, cat, taste, taste_cdf, su[ps])
    parts, info = _events(rng, cfg, cat, taste, su, n_pick, ps, picks)
    sess, ts, item, eng, mins = _clock(su, start, parts)
    ev = dict(user=su[sess], ts=t0 + ts, item=item, eng=eng, dur=mins, dev=device[sess].astype(np.int8))
    return ev, dict(info, taste=taste, dev_mix=dev_mix, peak=peak % 24)


def _play_stats(ev: dict, cat: dict) -> dict:
    """Plays; Discovery plays (no earlier non-noise event of the user on the item, as tasks/build.py
    counts it); first plays of an item; plays that are the next episode of the previous play."""
    signal = np.flatnonzero((ev["eng"] != TRAILER) & (ev["eng"] != PREVIEW))
    pair = ev["user"][signal].astype(np.int64) * int(cat["n_items"].sum()) + ev["item"][signal]
    order = np.argsort(pair, kind="stable")  # stable: the first of equal pairs is the earliest event
    first = np.zeros(len(pair), bool)
    first[order[np.r_[True, np.diff(pair[order]) != 0]]] = True
    is_play = ev["eng"][signal] == PLAY
    item, user = ev["item"][signal][is_play], ev["user"][signal][is_play]
    show = np.repeat(np.arange(len(cat["n_items"])), cat["n_items"])[item]
    next_ep = (user[1:] == user[:-1]) & (item[1:] == item[:-1] + 1) & (show[1:] == show[:-1])
    return dict(plays=int(is_play.sum()), discovery=int(first[is_play].sum()), next_episode=int(next_ep.sum()),
                first_plays=int(len(item) and np.count_nonzero(np.diff(np.sort(pair[is_play]))) + 1))


def generate(config: SyntheticConfig) -> tuple[EventLog, dict]:
    """Synthetic events and catalog, already in the validated form, and the planted truth."""
    cfg = config
    catalog, cat = _catalog(np.random.default_rng(np.random.SeedSequence([cfg.seed, 0])), cfg)
    day0 = _day0(cfg.start)
    chunks = range(0, cfg.n_users, cfg.chunk_users)
    seeds = np.random.SeedSequence([cfg.seed, 1]).spawn(len(chunks))
    cols, infos, stats = [], [], {}
    for lo, seed in zip(chunks, seeds):
        ev, info = _chunk(np.random.default_rng(seed), cfg, cat, min(cfg.chunk_users, cfg.n_users - lo),
                          int(day0.timestamp()), day0.day_of_week)
        for name, v in _play_stats(ev, cat).items():
            stats[name] = stats.get(name, 0) + v
        ev["user"] = ev["user"].astype(np.int32) + lo
        cols.append(ev), infos.append(info)
    ev = {name: np.concatenate([c.pop(name) for c in cols]) for name in list(cols[0])}
    users = [f"u{i:0{len(str(cfg.n_users - 1))}d}" for i in range(cfg.n_users)]  # string order = numeric

    def strings(values, codes):
        return pd.array(pa.array(values, pa.string()).take(pa.array(codes)), dtype=_STR)
    counts = np.bincount(ev["eng"], minlength=len(ENGAGEMENT_CODES))
    events = pd.DataFrame({
        "user_id": strings(users, ev.pop("user")), "timestamp": ev.pop("ts"),
        "item_id": strings(catalog["item_id"].to_numpy(object), ev.pop("item")),
        "engagement": strings(ENGAGEMENT_CODES, ev.pop("eng")), "duration_min": ev.pop("dur").astype(np.float64),
        "device": pd.Series(DEVICES[ev.pop("dev")], dtype=object), "rating": np.nan})[EVENT_COLUMNS]
    log = EventLog(events, catalog, name=f"synthetic-{cfg.seed}", meta={"source": "synthetic", "config": asdict(cfg)})
    return log, _truth(cfg, counts, infos, stats, users)


def _truth(cfg: SyntheticConfig, counts, infos: list[dict], stats: dict, users: list[str]) -> dict:
    taste, dev_mix, peak = (np.concatenate([i[k] for i in infos]) for k in ("taste", "dev_mix", "peak"))
    top, genres, n = np.argsort(-taste, axis=1)[:, :3], GENRES[:cfg.n_genres], int(counts.sum())
    noise = int(sum(counts[ENGAGEMENT_CODES.index(e)] for e in NOISE_ENGAGEMENTS))
    plays = max(stats["plays"], 1)
    totals = {k: sum(i[k] for i in infos) for k in ("returns", "resumes", "picks", "sessions")}
    return {
        "config": asdict(cfg), "genres": genres, "devices": list(DEVICES), "events": n,
        "counts": {e: int(c) for e, c in zip(ENGAGEMENT_CODES, counts)},
        "noise": {"rule": "engagement in NOISE_ENGAGEMENTS", "engagements": sorted(NOISE_ENGAGEMENTS),
                  "events": noise, "share": noise / max(n, 1)},
        "plays": {**stats, "non_discovery_share": 1 - stats["discovery"] / plays,
                  "replay_share": 1 - stats["first_plays"] / plays, **totals},
        "users": {u: {"top_genres": [[genres[g], round(float(taste[i, g]), 4)] for g in top[i]],
                      "devices": {d: round(float(w), 3) for d, w in zip(DEVICES, dev_mix[i])},
                      "peak_hour": round(float(peak[i]), 1)} for i, u in enumerate(users)},
    }


def write_truth(truth: dict, path) -> None:
    """Write the planted truth as JSON, atomically."""
    write_json(path, truth)
