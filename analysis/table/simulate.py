"""A seeded simulator of a long table: a SIMULATED reader panel and model on synthetic cases.

Everything it writes is labelled synthetic (study ``"SIMULATED"``, readers ``sim-...``). It
exists for tests, benchmarks and demos; its numbers say nothing about real readers.

Generative model (one latent severity per case on the ordered scale)
--------------------------------------------------------------------
* Patients have one or two hips (``p_bilateral``); each hip is one case (one image). The true
  class ``t`` of a hip is drawn from ``class_weights`` (default ``w_i`` proportional to ``i+1``:
  imbalanced, higher classes commoner, as in ONFH cohorts) and its latent severity is
  ``x = t + U(0, 1)``, so class boundaries sit at 1, 2, ..., K-1.
* A patient effect (image quality) shared by both hips shifts every observation of the patient
  by ``b_p ~ N(0, 0.15)`` and inflates its noise by ``1 + |N(0, 0.3)|``: errors cluster by
  patient, which is why the bootstrap resamples patients.
* Human reader ``r`` of seniority group ``g`` sees ``y = x + bias_r + b_p + noise`` with noise SD
  ``sd_g`` (smaller for senior groups) and answers ``clip(floor(y), 0, K-1)``: confusion mostly
  between neighbouring classes. Confidence grows with the distance of ``y`` to the nearest
  boundary (rounded to 5). A second session re-reads with a noise correlated 0.6 with the first.
  In the AI-aided condition the observation is pulled 35 % of the way towards the model's.
* The model sees ``x + b_p + N(0, sd_model)``, with a larger SD on external sites (a domain
  shift); its per-class probabilities are the cumulative-probit bins of that observation and its
  label the most probable class.
* Reading times are log-normal (median 20-45 s by seniority, longer on noisy patients);
  ``order_index`` is a random order per reader and session, ``read_at`` follows from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

# (seniority, noise SD on the latent scale, median reading time in seconds), most senior first.
DEFAULT_PANEL: tuple[tuple[str, int, float, float], ...] = (
    ("chief", 3, 0.30, 20.0),
    ("deputy chief", 4, 0.38, 25.0),
    ("attending", 4, 0.50, 32.0),
    ("resident", 4, 0.65, 45.0),
)
STUDY = "SIMULATED"


def _panel(n_readers: int | None, panel):
    if panel is None:
        panel = DEFAULT_PANEL
    panel = [tuple(p) for p in panel]
    for p in panel:
        if len(p) != 4 or int(p[1]) < 0 or float(p[2]) <= 0 or float(p[3]) <= 0:
            raise ValueError(
                f"panel: expected (seniority, count >= 0, noise SD > 0, median seconds > 0) "
                f"items, got {p!r}"
            )
    if n_readers is not None:
        if n_readers < 1:
            raise ValueError(f"n_readers: expected at least 1, got {n_readers}")
        base, extra = divmod(n_readers, len(panel))
        panel = [(s, base + (1 if i < extra else 0), sd, t)
                 for i, (s, _, sd, t) in enumerate(panel)]
    if sum(int(p[1]) for p in panel) < 1:
        raise ValueError("panel: expected at least one reader")
    return panel


def simulate_long_table(
    *,
    labels: Sequence[str],
    n_cases: int = 200,
    n_readers: int | None = None,
    panel: Sequence[tuple[str, int, float, float]] | None = None,
    class_weights: Sequence[float] | None = None,
    p_bilateral: float = 0.45,
    external_fraction: float = 0.25,
    model_sd: float = 0.25,
    model_external_sd: float = 0.45,
    second_session: bool = False,
    aided: bool = False,
    n_models: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Simulate a long table (see the module docstring for the generative model).

    Parameters
    ----------
    labels : sequence of str
        The ordered classes, lowest first (e.g. ``["A", "B", "C1", "C2"]``).
    n_cases : int
        Number of cases (hips); patients are drawn until exactly this many hips exist.
    n_readers : int, optional
        Spread this many human readers evenly over the panel's seniority groups.
    panel : sequence of (seniority, count, noise SD, median seconds), optional
        The human panel; default :data:`DEFAULT_PANEL` (15 readers in four groups).
    class_weights : sequence of float, optional
        Class frequencies; default proportional to 1, 2, ..., K.
    p_bilateral : float
        Probability that a patient contributes both hips.
    external_fraction : float
        Share of patients from the external site (partition ``"external"``); 0 for none.
    model_sd, model_external_sd : float
        Noise SD of the model on internal and external cases.
    second_session : bool
        Every human reader reads all cases a second time (session 2, same condition).
    aided : bool
        Every human reader also reads all cases in condition ``"AI-aided"`` (session 1).
    n_models : int
        Number of model versions (each a reader of kind model).
    seed : int
        Seed of the random generator; the same arguments give the same table.

    Returns
    -------
    pandas.DataFrame
        A long table with every column of :data:`analysis.table.dictionary.DATA_DICTIONARY`.

    Examples
    --------
    >>> df = simulate_long_table(labels=["lo", "mid", "hi"], n_cases=10, n_readers=2, seed=1)
    >>> sorted(df["reader_kind"].unique()), df["case"].nunique()
    (['human', 'model'], 10)
    """
    labels = [str(x) for x in labels]
    k = len(labels)
    if k < 2 or len(set(labels)) != k:
        raise ValueError(f"labels: expected at least two distinct classes, got {labels}")
    if n_cases < 2:
        raise ValueError(f"n_cases: expected at least 2, got {n_cases}")
    if not 0.0 <= external_fraction < 1.0:
        raise ValueError(f"external_fraction: expected a value in [0, 1), got {external_fraction}")
    if not 0.0 <= p_bilateral <= 1.0:
        raise ValueError(f"p_bilateral: expected a probability, got {p_bilateral}")
    if n_models < 1:
        raise ValueError(f"n_models: expected at least 1, got {n_models}")
    weights = np.arange(1.0, k + 1) if class_weights is None else np.asarray(class_weights, float)
    if weights.shape != (k,) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"class_weights: expected {k} non-negative weights (one per label), got {weights}"
        )
    weights = weights / weights.sum()
    panel = _panel(n_readers, panel)
    rng = np.random.default_rng(seed)

    # ---- patients, hips, cases
    hips_per_patient = []
    while sum(hips_per_patient) < n_cases:
        hips_per_patient.append(min(1 + int(rng.random() < p_bilateral),
                                    n_cases - sum(hips_per_patient)))
    n_patients = len(hips_per_patient)
    patient_of = np.repeat(np.arange(n_patients), hips_per_patient)
    sides = np.concatenate([rng.permutation(["left", "right"])[:h] for h in hips_per_patient])
    external_patient = rng.random(n_patients) < external_fraction
    internal_site = rng.choice(["site-1", "site-2"], size=n_patients, p=[0.6, 0.4])
    site_of_patient = np.where(external_patient, "site-3", internal_site)
    truth = rng.choice(k, size=n_cases, p=weights)
    severity = truth + rng.random(n_cases)
    patient_shift = rng.normal(0.0, 0.15, n_patients)[patient_of]
    patient_noise = (1.0 + np.abs(rng.normal(0.0, 0.3, n_patients)))[patient_of]
    external = external_patient[patient_of]
    case_ids = np.array([f"P{p + 1:04d}-{s[0].upper()}" for p, s in zip(patient_of, sides,
                                                                        strict=True)])
    cases = pd.DataFrame({
        "case": case_ids, "patient": [f"P{p + 1:04d}" for p in patient_of], "hip": sides,
        "site": site_of_patient[patient_of],
        "partition": np.where(external, "external", "test"),
        "truth": np.array(labels)[truth],
    })
    start = pd.Timestamp("2026-01-05T08:00:00Z")
    frames = []

    def reads(reader, kind, seniority, *, condition, session, label_idx, confidence, probs,
              seconds):
        order = rng.permutation(n_cases)
        order_index = np.empty(n_cases, dtype=np.int64)
        order_index[order] = np.arange(n_cases)
        t_ms = np.round(seconds * 1000).astype(np.int64)
        finished = np.cumsum(t_ms[order])
        read_at = np.empty(n_cases, dtype=np.int64)
        read_at[order] = finished
        day = {"unaided": 0, "AI-aided": 28}.get(condition, 0) + 14 * (session - 1)
        df = cases.copy()
        df.insert(0, "study", STUDY)
        df.insert(1, "reader", reader)
        df.insert(2, "reader_kind", kind)
        df.insert(3, "seniority", seniority)
        df.insert(4, "condition", condition)
        df.insert(5, "session", session)
        df["label"] = np.array(labels)[label_idx]
        df["confidence"] = confidence
        for j, lab in enumerate(labels):
            df[f"score_{lab}"] = np.nan if probs is None else probs[:, j]
        df["time_ms"] = t_ms
        df["order_index"] = order_index
        df["read_at"] = (start + pd.Timedelta(days=day)
                         + pd.to_timedelta(read_at, unit="ms")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        frames.append(df)

    # ---- models: cumulative-probit bins of a noisy observation
    model_obs = []
    for m in range(n_models):
        sd = np.where(external, model_external_sd, model_sd) * (1.0 + 0.15 * m)
        obs = severity + patient_shift + rng.normal(0.0, 1.0, n_cases) * sd
        edges = np.concatenate([[-np.inf], np.arange(1.0, k), [np.inf]])
        cdf = stats.norm.cdf((edges[None, :] - obs[:, None]) / sd[:, None])
        probs = np.clip(np.diff(cdf, axis=1), 1e-6, None)
        probs = probs / probs.sum(axis=1, keepdims=True)
        name = "sim-model" if n_models == 1 else f"sim-model-{m + 1}"
        seconds = rng.lognormal(np.log(0.05), 0.1, n_cases)
        reads(name, "model", pd.NA, condition="unaided", session=1,
              label_idx=probs.argmax(axis=1), confidence=np.nan, probs=np.round(probs, 6),
              seconds=seconds)
        model_obs.append(obs)

    # ---- human readers
    boundaries = np.arange(1.0, k)
    for seniority, count, sd, median_s in panel:
        for i in range(int(count)):
            name = f"sim-{seniority.replace(' ', '-')}-{i + 1}"
            bias = rng.normal(0.0, 0.1)
            impression = rng.normal(0.0, 1.0, n_cases)  # the reader's lasting view of a case
            plans = [("unaided", 1)]
            if second_session:
                plans.append(("unaided", 2))
            if aided:
                plans.append(("AI-aided", 1))
            for condition, session in plans:
                fresh = rng.normal(0.0, 1.0, n_cases)
                noise = (np.sqrt(0.6) * impression + np.sqrt(0.4) * fresh) * sd * patient_noise
                obs = severity + bias + patient_shift + noise
                if condition == "AI-aided":
                    obs = 0.65 * obs + 0.35 * model_obs[0]
                label_idx = np.clip(np.floor(obs), 0, k - 1).astype(np.intp)
                dist = np.min(np.abs(obs[:, None] - boundaries[None, :]), axis=1)
                conf = 100.0 * (1.0 - np.exp(-1.5 * dist / sd)) + rng.normal(0, 8, n_cases)
                conf = np.clip(np.round(conf / 5.0) * 5.0, 0, 100)
                seconds = rng.lognormal(np.log(median_s), 0.35, n_cases) * patient_noise
                reads(name, "human", seniority, condition=condition, session=session,
                      label_idx=label_idx, confidence=conf, probs=None, seconds=seconds)

    return pd.concat(frames, ignore_index=True)
