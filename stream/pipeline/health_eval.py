"""Model-health evaluation of rolled-up windows, over a port (labels, reference, alerts).

Called beside the feature evaluator for every window of a model with a
``labels`` table. For a window W of scale S:

1. **Estimated performance (before labels)**, for W itself: the prediction
   column's sketch of W against the reference's labelled state (CBPE,
   :func:`stream.core.model_health.estimate`), so a covariate shift that lowers
   expected performance can page when W closes, before any of its labels.
2. **Label shift and realized performance**, re-judged by label coverage: each
   window V of the last ``lag`` = ceil(``max_label_delay_ms`` / S) is judged when
   its coverage (labels / predictions, counting the labels that arrived before
   W's end day, a UTC day boundary) first reaches a ``labels.judge_at`` point
   (0.5, 0.9 by default), and a last time on all its labels once it is ``lag``
   back (later labels are ``label_too_late``). The stage reached is committed
   with the decisions, so a crash or a replay judges each (V, stage) once, on
   the same labels. Each judgement's coverage and point go with its decisions.
3. **Lifecycle and commit**: the decisions step the ``label`` and
   ``performance`` lifecycles on W, the judging moment
   (:mod:`stream.core.health_alerts`); decisions, states, stages and alert
   events are committed together; the events go to the same outbox the feature
   alerts use, so the same publisher and forwarders carry them.

Live, steps 1–3 of a window wait until the label consumer covers its judging
bound (:func:`waiting_for`: every claimed label partition's newest flushed record
time, or the time it was found idle at its end, at or past the bound): the window
is queued in the store, said once, and judged oldest first by :meth:`HealthEvaluator.
resume` (the label consumer calls it) or by a later window's evaluation. A queued
window's commit takes it off the queue atomically, once. A replay does not wait.

Multiclass models (``labels.classes``): the same stages, lifecycles and commit;
the judgements are class-share shift (``label:class_share``, the reason names the
class that moved most), accuracy drop and macro-F1 drop against the reference's labels
(:mod:`stream.core.multiclass`). There is no estimate before labels for them (the
events carry the predicted class, not per-class probabilities, so there is no
calibration map to estimate from): each window says so in ``skipped``.

Regression models (``labels.kind = "regression"``): the same stages, lifecycles
and commit; the judgements are the target's mean shift (``label:mean_shift``,
floor 0.1 reference sd) and the relative increase of MAE and RMSE
(``performance:mae``, ``performance:rmse``, floor +10 %) against the reference's
labels (:mod:`stream.core.regression`). No estimate before labels (a point
prediction has no predictive distribution to estimate the error from): said in
``skipped`` per window.

Windows without a reference performance (no labelled reference), without
labels, or without the prediction sketch are skipped with the reason in
``HealthVerdict.skipped`` (logged by the caller): never a silent nothing.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from stream.catalog import ModelSpec
from stream.core.health_alerts import health_step
from stream.core.lifecycle import AlertEvent
from stream.core.model_health import (
    HealthDecision,
    calibration_drift,
    estimate,
    estimated_drop,
    label_shift,
    performance_drop,
    sketch_score_counts,
)
from stream.core.multiclass import (
    MulticlassPerformance,
    class_shift,
    multiclass_drop,
    share_measure,
)
from stream.core.performance import CAL_MEASURES, BinaryPerformance
from stream.core.regression import RegressionPerformance, error_increase, target_shift
from stream.core.sketch import NumericSketch
from stream.core.window import DAY_MS, HOUR, HOUR_MS, WindowKey, floor_to, format_iso_ms
from stream.pipeline.ports import HealthCommit, HealthStore, StoredWindow

__all__ = [
    "HealthEvaluator",
    "HealthVerdict",
    "budget_confidence",
    "health_judgements",
    "judged_lag",
    "waiting_for",
]

_METRICS: tuple[Literal["auc", "accuracy"], ...] = ("auc", "accuracy")
_MULTI_METRICS: tuple[Literal["accuracy", "macro_f1"], ...] = ("accuracy", "macro_f1")
_REG_METRICS: tuple[Literal["mae", "rmse"], ...] = ("mae", "rmse")
NO_REGRESSION_ESTIMATE = (
    "estimate: not available for a regression model (labels carry a point prediction, "
    "not a predictive distribution: nothing to estimate the error from); judged when labels come"
)
NO_MULTICLASS_ESTIMATE = (
    "estimate: not available for a multiclass model (labels carry the predicted class, "
    "not per-class probabilities: nothing to calibrate an estimate on); judged when labels come"
)


_State = BinaryPerformance | MulticlassPerformance | RegressionPerformance
"""A window's (or the reference's) label state, by the model's label kind."""


@dataclass(frozen=True)
class HealthVerdict:
    """What one evaluation decided (and what it could not judge, with the reason)."""

    model: str
    decisions: tuple[HealthDecision, ...]
    events: tuple[AlertEvent, ...]
    skipped: tuple[str, ...] = ()
    coverage: float | None = None
    window: WindowKey | None = None
    waiting: bool = False
    """Deferred: the label consumer does not cover the window's judging bound yet."""


def judged_lag(spec: ModelSpec, scale: str) -> int:
    """Windows between a window closing and its labels being judged (final coverage)."""
    width = HOUR_MS if scale == HOUR else DAY_MS
    delay = spec.labels.max_label_delay_ms if spec.labels is not None else 0
    return max(1, math.ceil(delay / width))


@dataclass
class HealthEvaluator:
    """Steps 1–3 for one namespace; the caller publishes the outbox."""

    store: HealthStore
    encode: Callable[[AlertEvent], bytes]
    floors: dict[str, float] = field(
        default_factory=lambda: {
            "label": 0.02,
            "auc": 0.03,
            "accuracy": 0.03,
            "calibration": 0.02,
            "macro_f1": 0.03,
            "mae": 0.10,
            "rmse": 0.10,
            "mean_shift": 0.10,
        }
    )
    confidence: float = 0.99
    wait_for_labels: bool = True
    """Live: defer a window until the label consumer covers its judging bound. A replay
    ingests every label of its range first (False)."""
    note: Callable[[str], None] | None = None
    """Where a deferred or resumed window is said (the worker's log)."""
    counts: dict[str, int] = field(default_factory=lambda: {"deferred": 0, "resumed": 0})
    _waiting: dict[tuple[str, WindowKey], str] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _waiting_counts: dict[str, int] = field(default_factory=dict, init=False)
    """Per model, the windows in ``_waiting``: replaced whole after each pass over a queue."""

    def waiting(self) -> dict[str, int]:
        """Windows per model seen waiting for labels here and not judged yet.

        On /metrics as ``driftstream_health_waiting_windows{model}``. Read without the
        lock (a snapshot replaced whole): a scrape never waits for a judgement's Redis
        calls, which hold the lock.
        """
        return dict(self._waiting_counts)

    def evaluate(self, spec: ModelSpec, window: StoredWindow) -> HealthVerdict | None:
        """Judge ``window`` (estimate) and the windows ``judged_lag`` back (labels).

        Live (``wait_for_labels``), the window joins its (model, scale) queue and the
        queue is judged oldest first as far as the label consumer covers each window's
        judging bound (:meth:`resume`); the rest wait, said once per window.
        """
        if spec.labels is None or window.key.scale not in spec.alerts.windows:
            return None
        ref = self._reference(spec)
        if not self.wait_for_labels or ref is None or ref.n == 0:
            return self._judge(spec, window, deferred=False)  # nothing to wait for
        with self._lock:
            self.store.defer(spec.name, window.key)
            done = self._resume_locked(spec, window.key.scale, window.key)
        mine = [v for v in done if v.window == window.key]
        if mine:
            return mine[0]
        why = self._waiting.get((spec.name, window.key), "queued behind an older window")
        return HealthVerdict(spec.name, (), (), (why,), window=window.key, waiting=True)

    def resume(self, spec: ModelSpec) -> list[HealthVerdict]:
        """Judge the model's queued windows whose labels are now ingested (oldest first)."""
        if spec.labels is None:
            return []
        with self._lock:
            return [v for scale in spec.alerts.windows for v in self._resume_locked(spec, scale)]

    def _resume_locked(
        self, spec: ModelSpec, scale: str, current: WindowKey | None = None
    ) -> list[HealthVerdict]:
        """Judge the queue oldest first while covered; say each window that waits, once.

        Verdicts of windows other than ``current`` (the caller's) are said via ``note``.
        """
        try:
            return self._resume_queue(spec, scale, current)
        finally:
            counts: dict[str, int] = {}
            for model, _ in self._waiting:
                counts[model] = counts.get(model, 0) + 1
            self._waiting_counts = counts

    def _resume_queue(
        self, spec: ModelSpec, scale: str, current: WindowKey | None
    ) -> list[HealthVerdict]:
        out: list[HealthVerdict] = []
        queue = self.store.deferred(spec.name, scale)
        queued = set(queue)
        stale = [w for w in self._waiting if w[0] == spec.name and w[1].scale == scale]
        for w in stale:  # judged elsewhere (another worker): no longer waiting here
            if w[1] not in queued:
                del self._waiting[w]
        for i, key in enumerate(queue):
            bound = floor_to(key.end_ms, DAY_MS)
            why = waiting_for(self.store.label_progress(spec.name), bound)
            if why is not None:
                for later in queue[i:]:
                    if (spec.name, later) in self._waiting:
                        continue
                    said = why if later == key else f"deferred: queued behind {key} ({why})"
                    self._waiting[(spec.name, later)] = said
                    self.counts["deferred"] += 1
                    if self.note is not None:
                        self.note(f"model health of {spec.name} {later}: {said}")
                break
            was_waiting = self._waiting.pop((spec.name, key), None) is not None
            window = self.store.window(spec.name, key)
            if window is None:
                states = self.store.health_states(spec.name, key.scale)
                judged = self.store.judged(spec.name, key.scale)
                self.store.commit(HealthCommit(spec.name, key, [], states, [], judged, True))
                gone = "the rolled-up window is gone (expired): not judged"
                out.append(HealthVerdict(spec.name, (), (), (gone,), None, key))
                if self.note is not None:
                    self.note(f"model health of {spec.name} {key}: {gone}")
                continue
            verdict = self._judge(spec, window, deferred=True)
            if was_waiting:
                self.counts["resumed"] += 1
                verdict = replace(
                    verdict, skipped=(*verdict.skipped, "judged after waiting for labels")
                )
            out.append(verdict)
            if key != current and self.note is not None:
                for line in verdict.skipped:
                    self.note(f"model health of {spec.name} {key}: {line}")
        return out

    def _judge(self, spec: ModelSpec, window: StoredWindow, *, deferred: bool) -> HealthVerdict:
        rules = spec.labels
        assert rules is not None  # noqa: S101 - evaluate checked it
        skipped: list[str] = []
        ref = self._reference(spec)
        if ref is None or ref.n == 0:
            if deferred:  # off the queue, nothing judged (said)
                states = self.store.health_states(spec.name, window.key.scale)
                judged = self.store.judged(spec.name, window.key.scale)
                self.store.commit(HealthCommit(spec.name, window.key, [], states, [], judged, True))
            return HealthVerdict(
                spec.name,
                (),
                (),
                ("no labelled reference: add 'label' to the reference",),
                window=window.key,
            )
        decisions: list[HealthDecision] = []
        pred = spec.prediction
        blob = window.sketches.get(pred.name) if pred is not None else None
        if isinstance(ref, MulticlassPerformance):
            skipped.append(NO_MULTICLASS_ESTIMATE)
        elif isinstance(ref, RegressionPerformance):
            skipped.append(NO_REGRESSION_ESTIMATE)
        elif pred is None or pred.kind != "numeric" or blob is None:
            skipped.append("estimate: the model declares no numeric prediction column")
        else:
            sketch = NumericSketch.from_bytes(blob)
            if sketch.count >= spec.alerts.min_window_events:
                counts = sketch_score_counts(sketch)
                est = estimate(ref, counts, threshold=rules.threshold)
                for metric in _METRICS:
                    d = estimated_drop(
                        ref,
                        est,
                        metric=metric,
                        floor=self.floors[metric],
                        confidence=self.confidence,
                    )
                    if d is not None:
                        decisions.append(d)
            else:
                skipped.append(f"estimate: {sketch.count} predictions < alerts.min_window_events")
        realized, judged, coverage = self._rejudge(spec, window, ref, skipped)
        decisions.extend(realized)
        states = self.store.health_states(spec.name, window.key.scale)
        events: list[AlertEvent] = []
        # Both lifecycles step on W, the judging moment: its estimate, and the newest
        # label judgements made at W (their reasons name the window judged and its
        # coverage). Lifecycles see windows in order, so a re-judged window cannot be
        # stepped again under its own key.
        if decisions:
            states, got = health_step(
                states, spec.name, window.key, _for_lifecycle(decisions), spec.alerts
            )
            events.extend(got)
        committed = self.store.commit(
            HealthCommit(
                spec.name,
                window.key,
                decisions,
                states,
                [self.encode(e) for e in events],
                judged,
                deferred,
            )
        )
        if not committed:
            return HealthVerdict(
                spec.name, (), (), ("judged by another worker meanwhile",), None, window.key
            )
        return HealthVerdict(
            spec.name, tuple(decisions), tuple(events), tuple(skipped), coverage, window.key
        )

    def _reference(self, spec: ModelSpec) -> _State | None:
        """The labelled reference of the model's label kind, if stored."""
        if spec.labels is not None and spec.labels.multiclass:
            return self.store.reference_multiclass(spec)
        if spec.labels is not None and spec.labels.regression:
            return self.store.reference_regression(spec)
        return self.store.reference_performance(spec)

    def _labels(self, spec: ModelSpec, key: WindowKey, before: int | None) -> _State:
        rules = spec.labels
        if rules is not None and rules.multiclass:
            return self.store.multiclass_labels(spec.name, key, len(rules.classes), before)
        if rules is not None and rules.regression:
            return self.store.regression_labels(spec.name, key, before)
        return self.store.labels(spec.name, key, before)

    def _judge_labels(
        self, spec: ModelSpec, ref: _State, win: _State, scale: str
    ) -> list[HealthDecision]:
        """Label shift and realized performance of one window against the reference.

        A regression or binary reference's between-window spread at the window's
        ``scale`` (τ², :func:`stream.core.regression.spread_of`,
        :func:`stream.core.performance.spread_of`) widens each decision's variance; a
        binary reference without one (stored before it was kept) is judged as before
        and its label decision's reason says so.
        """
        conf = self.confidence
        out: list[HealthDecision] = []
        if isinstance(ref, RegressionPerformance) and isinstance(win, RegressionPerformance):
            sp = ref.spread
            tau2 = {m: sp.tau2(scale, m) if sp else 0.0 for m in ("mean_shift", *_REG_METRICS)}
            shift = target_shift(
                ref, win, floor=self.floors["mean_shift"], confidence=conf, tau2=tau2["mean_shift"]
            )
            if shift is not None:
                out.append(shift)
            for r in _REG_METRICS:
                d = error_increase(
                    ref, win, metric=r, floor=self.floors[r], confidence=conf, tau2=tau2[r]
                )
                if d is not None:
                    out.append(d)
            return out
        if isinstance(ref, MulticlassPerformance) and isinstance(win, MulticlassPerformance):
            names = spec.labels.class_names() if spec.labels is not None else None
            msp = ref.spread  # None: a reference built before k15c (judged as before)
            shift = class_shift(
                ref,
                win,
                floor=self.floors["label"],
                confidence=conf if msp is None else max(conf, budget_confidence(spec)),
                names=names,
                tau2=None
                if msp is None
                else [msp.tau2(scale, share_measure(i)) for i in range(ref.classes)],
            )
            out.append(
                shift if msp is not None else replace(shift, reason=shift.reason + _NO_SPREAD)
            )
            mtau = {m: msp.tau2(scale, m) if msp else 0.0 for m in _MULTI_METRICS}
            drops = (
                multiclass_drop(
                    ref, win, metric=m, floor=self.floors[m], confidence=conf, tau2=mtau[m]
                )
                for m in _MULTI_METRICS
            )
            return out + [d for d in drops if d is not None]
        assert isinstance(ref, BinaryPerformance) and isinstance(win, BinaryPerformance)  # noqa: S101
        sp = ref.spread  # None: a reference built before the spread was kept (judged as before)
        shift = label_shift(
            ref,
            win,
            floor=self.floors["label"],
            confidence=conf,
            tau2=None if sp is None else sp.tau2(scale, "positive_share"),
        )
        if sp is None:
            shift = replace(shift, reason=shift.reason + _NO_SPREAD)
        out.append(shift)
        for metric in _METRICS:
            between = 0.0 if sp is None else sp.tau2(scale, metric)
            d = performance_drop(
                ref, win, metric=metric, floor=self.floors[metric], confidence=conf, tau2=between
            )
            if d is not None:
                out.append(d)
        fitted = sp is not None and sp.fitted(scale, CAL_MEASURES[0])
        cal = calibration_drift(
            ref,
            win,
            floor=self.floors["calibration"],
            confidence=max(conf, budget_confidence(spec)) if fitted else conf,
            tau2=[sp.tau2(scale, m) for m in CAL_MEASURES] if sp is not None and fitted else None,
        )
        if cal is not None:
            out.append(cal if fitted else replace(cal, reason=cal.reason + _NO_CAL_SPREAD))
        return out

    def _rejudge(
        self,
        spec: ModelSpec,
        window: StoredWindow,
        ref: _State,
        skipped: list[str],
    ) -> tuple[list[HealthDecision], dict[int, int], float | None]:
        """Judge each window of the last ``lag`` whose label coverage crossed a new point.

        Stage of window V at judging window W: the number of ``judge_at`` points its
        coverage reached, counting only labels that arrived before W's end day
        (a UTC day boundary: the same in every run); ``len(judge_at) + 1`` (final,
        every label) once V is ``lag`` windows back. V is judged when its stage
        passes the stage it was last judged at (kept with the commit).
        """
        if spec.labels is None:  # pragma: no cover - evaluate checked it
            return [], {}, None
        rules = spec.labels
        key = window.key
        lag = judged_lag(spec, key.scale)
        points = rules.judge_at
        final = len(points) + 1
        before = floor_to(key.end_ms, DAY_MS)
        oldest = key.previous(lag).start_ms  # older stages are forgotten (pruned)
        done = {s: n for s, n in self.store.judged(spec.name, key.scale).items() if s >= oldest}
        out: list[HealthDecision] = []
        coverage: float | None = None
        for k in range(lag, -1, -1):
            v = key.previous(k) if k else key
            is_final = k == lag
            win = self._labels(spec, v, None if is_final else before)
            preds = self.store.predictions(spec.name, v)
            cov = win.n / preds if preds else None
            if is_final:
                coverage = cov
            stage = final if is_final else sum(1 for p in points if cov is not None and cov >= p)
            if stage <= done.get(v.start_ms, 0):
                continue
            at = "final" if is_final else f"{100 * points[stage - 1]:.0f} %"
            if win.n < spec.alerts.min_window_events:
                if is_final:
                    skipped.append(
                        f"labels of {v}: {win.n} < alerts.min_window_events "
                        f"(coverage {_pct(cov)}, final)"
                    )
                    done[v.start_ms] = stage
                continue
            done[v.start_ms] = stage
            where = f"{v} (coverage {_pct(cov)}, judged at {at})"
            out.extend(
                replace(d, reason=f"{where}: {d.reason}")
                for d in self._judge_labels(spec, ref, win, v.scale)
            )
        return out, done, coverage


def health_judgements(spec: ModelSpec, days: int = 30) -> int:
    """Label judgements of one measure over ``days``.

    Every window of each judged scale, once per ``judge_at`` point and once final.
    """
    if spec.labels is None:
        return 0
    stages = len(spec.labels.judge_at) + 1
    return (
        sum(days * DAY_MS // (HOUR_MS if sc == HOUR else DAY_MS) for sc in spec.alerts.windows)
        * stages
    )


def budget_confidence(spec: ModelSpec) -> float:
    """The per-judgement confidence that spends the model's false-alarm budget.

    ``alerts.false_alarm_budget`` (false alerts per model per 30 days) over a measure's
    judgements in 30 days (Bonferroni).

    Used by the measures whose floor cannot bind on small windows (k15c: calibration
    drift, whose effect is a sum over score groups; multiclass class shares, one test
    per class): at the flat 0.99 a test exact at its level still pages ≈ 1 % of some
    2,250 judgements a month. Hour and day windows with 0.5, 0.9 and final: 2,250
    judgements, 0.99956 at the default budget of 1.
    """
    n = health_judgements(spec)
    return 1.0 - spec.alerts.false_alarm_budget / n if n else 0.0


def waiting_for(progress: Mapping[int, tuple[int | None, int | None]], bound_ms: int) -> str | None:
    """What the label consumer must still reach before ``bound_ms`` is covered (None: covered).

    A label partition covers the bound once its newest flushed record time, or the
    last time it was found idle at its end with everything flushed, is at or past it.
    No claimed partition at all: the label consumer has not started.
    """
    if not progress:
        return (
            f"waiting for the label consumer to claim the labels topic (judging bound "
            f"{format_iso_ms(bound_ms)})"
        )
    behind = [
        (p, newest)
        for p, (newest, idle) in sorted(progress.items())
        if max(newest if newest is not None else -1, idle if idle is not None else -1) < bound_ms
    ]
    if not behind:
        return None
    where = ", ".join(
        f"{p} at {format_iso_ms(t) if t is not None else 'no label yet'}" for p, t in behind[:4]
    )
    more = f" (+{len(behind) - 4} more)" if len(behind) > 4 else ""
    return (
        f"deferred: waiting for label partition(s) {where}{more} to reach the judging bound "
        f"{format_iso_ms(bound_ms)} (or be idle at their end)"
    )


_NO_SPREAD = (
    "; the reference has no between-window spread (built before it was kept): judged "
    "against the pooled reference as before, rebuild it (`driftstream reference build`) "
    "to judge a daily cycle"
)
_NO_CAL_SPREAD = (
    "; the reference has no calibration spread (built before k15c): judged by the older "
    "two-sided χ² rule, which pages stationary streams; rebuild it with `driftstream "
    "reference build` to judge calibration against its spread beyond the floor"
)


def _for_lifecycle(decisions: list[HealthDecision]) -> list[HealthDecision]:
    """One decision per (kind, metric): the newest breach, else the newest judgement.

    Judgements are made oldest window first, so "newest" is the last of each name.
    """
    best: dict[tuple[str, str], HealthDecision] = {}
    for d in decisions:
        name = (d.kind, d.metric)
        old = best.get(name)
        if old is None or d.breach or not old.breach:
            best[name] = d
    return list(best.values())


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.0f} %"
