"""Evaluation of one rolled-up window: decisions per baseline, lifecycle, alert events.

For a new window W of a model, for each configured baseline:

1. **Baseline sketches.** ``reference``: the model's stored reference;
   ``previous``: the window before W; ``seasonal``: the same hour (or weekday)
   a week earlier. A baseline that does not exist yet is skipped.
2. **Which features.** A feature with daily/weekly cycles (its ``seasonal``
   setting, or detected from the reference when ``auto``) is judged against
   the seasonal baseline only: against the reference or the previous window a
   weekend or a night looks like drift. The others skip the seasonal baseline.
3. **Decide.** Measures and the calibrated decision per feature (effect AND
   confidence; pipeline breaks), at the model's corrected α. Against the
   reference, the model-level member ``joint`` (correlation change and PCA
   reconstruction error of the numeric features together, :mod:`stream.core.joint`)
   is judged too, as one more member of the same alert; its two tests are counted
   in the α of every member.
4. **Lifecycle.** The (model, scale, baseline) alert state steps; a window at
   or before the last one processed emits nothing (idempotent). A decisive breach
   pages at once, a marginal one after ``consecutive_breaches`` windows; hourly
   windows against the reference or seasonal baseline also feed each feature's
   CUSUM (``alerts.sequential``), whose in-control run length comes from the budget
   (:func:`sequential_arl0`).
5. **Commit.** The decisions, the new state and the alert events go to the
   store in ONE atomic write (the events into an outbox).
5b. **Trailing day.** After an hour window (``alerts.trailing_day``, with ``day``
   among the windows), the 24 hours it closes — merged from the stored hour
   windows (:mod:`.trailing`) — are judged against the reference with the day
   calibration at the overlap-corrected level (:func:`stream.core.trailing.trailing_alpha`);
   every breach pages (``consecutive_breaches`` 1: the budget is spent per
   excursion), in their own lifecycle (scale ``trailing_day``), committed like
   any window. Part of the hour's evaluation, so the hour's pending/evaluated
   bookkeeping covers it (idempotent: the lifecycle skips a window it folded in).
   Features only: the model-level joint member is judged on hours and days (its
   day calibration on overlapping windows is left to its own part, issue 16).
6. **Publish.** The outbox goes to the alerts topic keyed by dedup key and is
   then acknowledged; a crash in between re-publishes events with the same
   alert ids (forwarders drop ids they already sent).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from stream.catalog import Catalog, FeatureSpec, ModelSpec
from stream.core.alert import build_alert
from stream.core.calibrate import FeatureCalibration, ModelCalibration, model_alpha
from stream.core.decide import Decision, batch_measures, evaluate_feature
from stream.core.joint import JOINT_TESTS, JointCalibration, align_indicators, decide_joint
from stream.core.lifecycle import AlertEvent, AlertState, step
from stream.core.measures.categorical import CategoricalPair
from stream.core.measures.confidence import Measure
from stream.core.sketch import JointSketch, SketchDecodeError
from stream.core.sketch.params import Sketch, SketchParams
from stream.core.trailing import TRAILING_MIN_HOURS, trailing_alpha
from stream.core.window import DAY, HOUR, TRAILING_DAY, WindowKey
from stream.pipeline.ports import JOINT_KEY, EvaluationCommit, EvaluationStore, StoredWindow
from stream.pipeline.trailing import Decoded, TrailingBuilder, TrailingWindow

__all__ = [
    "AlertLinks",
    "Deployment",
    "Evaluator",
    "WindowVerdict",
    "alert_encoder",
    "seasonal_lag",
    "sequential_arl0",
]


def sequential_arl0(spec: ModelSpec) -> float:
    """In-control run length (hours) of one feature's CUSUM: its share of the budget.

    The sequential rule is one more detector stream beside the baselines' window
    tests: ``720 · features · (baselines + 1) / budget`` hours between false alarms
    per feature, so all features together spend at most ``budget / (baselines + 1)``
    false alerts per 30 days.

    >>> from stream.catalog import ModelSpec
    >>> spec = ModelSpec.model_validate({"name": "m", "features": {"a": "numeric"}})
    >>> sequential_arl0(spec)
    2880.0
    """
    streams = max(1, len(spec.alerts.baselines)) + 1
    return 720.0 * max(1, len(spec.monitored)) * streams / spec.alerts.false_alarm_budget


def seasonal_lag(scale: str) -> int:
    """Windows back to the same hour (or weekday) last week.

    >>> seasonal_lag("hour"), seasonal_lag("day")
    (168, 7)
    """
    return 168 if scale == HOUR else 7


@dataclass(frozen=True)
class WindowVerdict:
    """Everything one window's evaluation decided, per baseline."""

    model: str
    window: WindowKey
    decisions: Mapping[str, tuple[Decision, ...]]
    events: tuple[AlertEvent, ...]
    trailing: Mapping[str, tuple[Decision, ...]] = field(default_factory=dict)
    """The trailing day this hour closed, per baseline (reference), when judged."""
    trailing_key: WindowKey | None = None
    """That trailing day, or None when it was not judged (see :attr:`Evaluator.notes`)."""


@dataclass
class Evaluator:
    """Steps 1–5 for one namespace; the caller publishes the outbox (step 6)."""

    store: EvaluationStore
    encode: Callable[[AlertEvent], bytes]
    params: SketchParams = field(default_factory=SketchParams)
    cache_size: int = 4096
    """Decoded sketches kept (by their bytes): the reference and last hour decode once."""
    _decoded: OrderedDict[tuple[str, bytes], Sketch | JointSketch] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    warn: Callable[[str], None] | None = None
    """Told each note once (the worker logs them as warnings)."""
    notes: list[str] = field(default_factory=list, init=False)
    """One line per model and reason a member could not be judged (the worker logs them)."""
    _said: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    _kinds: dict[str, Mapping[str, str]] = field(default_factory=dict, init=False, repr=False)
    batch: bool = True
    """Judge all columns of a window in one array pass per kind (``decide.batch_measures``);
    False: pair by pair (the exact reference path; the same decisions, tested)."""
    trailing: TrailingBuilder = field(init=False, repr=False)
    """Builds trailing days from the stored hours (two merges per column per hour)."""
    _ahead: dict[tuple[str, WindowKey, str], _Ahead] = field(
        default_factory=dict, init=False, repr=False
    )
    """What :meth:`measure_ahead` measured, by (model, window, baseline or trailing day)."""

    def __post_init__(self) -> None:
        # The joint member is judged on hours and days only (see step 5b).
        self.trailing = TrailingBuilder(
            self.store.window, self._decode_column, skip=frozenset({JOINT_KEY})
        )

    def evaluate(self, spec: ModelSpec, window: StoredWindow) -> WindowVerdict:
        """Evaluate ``window`` of ``spec`` against every configured baseline."""
        ref = self.store.reference(spec)
        calibration = ref[1] if ref is not None else None
        decisions: dict[str, tuple[Decision, ...]] = {}
        events: list[AlertEvent] = []
        scale = window.key.scale
        states = (
            self.store.alert_states(spec.name, scale, spec.alerts.baselines)
            if scale in spec.alerts.windows
            else {}
        )
        for baseline, base in self._plan(spec, window, ref):
            ahead = self._ahead.pop((spec.name, window.key, baseline), None)
            measured = ahead.jobs if ahead is not None and ahead.fits(window, base, ref) else None
            judged = self._decide(spec, window, baseline, base, calibration, measured=measured)
            state = states.get(baseline) or AlertState(spec.name, scale, baseline)
            sequential = (
                spec.alerts.sequential and scale == HOUR and baseline in ("reference", "seasonal")
            )
            # One window against the previous one is two equally noisy windows: its
            # evidence always needs the next window's confirmation (never decisive).
            rules = (
                spec.alerts.model_copy(update={"page_on_decisive": False})
                if baseline == "previous"
                else spec.alerts
            )
            new_state, new_events = step(
                state,
                window.key,
                judged,
                rules,
                cusum_arl0=sequential_arl0(spec) if sequential else None,
            )
            self.store.commit(
                EvaluationCommit(
                    spec.name,
                    window.key,
                    baseline,
                    judged,
                    new_state,
                    [self.encode(e) for e in new_events],
                )
            )
            decisions[baseline] = tuple(judged)
            events.extend(new_events)
        trailing: dict[str, tuple[Decision, ...]] = {}
        t_key = None
        if self._trails(spec, window):
            t_key = self._trailing(spec, window, ref, trailing, events)
        return WindowVerdict(spec.name, window.key, decisions, tuple(events), trailing, t_key)

    def measure_ahead(self, spec: ModelSpec, windows: Sequence[StoredWindow]) -> int:
        """Measure the pairs :meth:`evaluate` will judge for ``windows``, in one array pass.

        A replay evaluates hundreds of windows in a row; measured a window at a time, a
        model-hour's few pairs per baseline pay the array passes' fixed cost four times
        (three baselines and the trailing day). Here every baseline's and trailing day's
        pairs of ``windows`` are measured together, a group per (window, baseline), so
        each pair's measures are exactly those of its window's own call
        (``decide.batch_measures``); :meth:`evaluate` then judges each window in order
        (the lifecycle is sequential) from these measures, when its window, baseline
        sketches and reference are the very objects measured here, else measures again.
        Trailing days are built here, in order, and kept for :meth:`evaluate`. Returns
        the pairs measured (0 with ``batch`` off: nothing is measured ahead).
        """
        self._ahead.clear()
        if not self.batch or not windows:
            return 0
        ref = self.store.reference(spec)
        calibration = ref[1] if ref is not None else None
        todo: list[tuple[tuple[str, WindowKey, str], _Ahead]] = []
        for window in windows:
            for baseline, base in self._plan(spec, window, ref):
                planned = self._jobs(spec, window, (baseline, base), calibration)
                todo.append(((spec.name, window.key, baseline), _Ahead(window, base, ref, planned)))
            if ref is not None and self._trails(spec, window):
                self._kinds[spec.name] = spec.kinds
                built = self.trailing.build(spec.name, window)
                entry = _Ahead(window, ref[0], ref, None, built)
                if built.part.hours >= TRAILING_MIN_HOURS:
                    merged = _merged(built)
                    t_window = StoredWindow(built.key, built.part.events, built.part.late, {})
                    entry.jobs = self._jobs(
                        spec, t_window, ("reference", ref[0]), calibration, merged
                    )
                todo.append(((spec.name, window.key, TRAILING_DAY), entry))
        jobs = [job for _, a in todo if a.jobs is not None for job in a.jobs.jobs]
        groups = [g for g, (_, a) in enumerate(todo) if a.jobs is not None for _ in a.jobs.jobs]
        pairs, pre = self._measure(jobs, groups)
        at = 0
        for key, a in todo:
            if a.jobs is not None:
                n = len(a.jobs.jobs)
                a.jobs = replace(a.jobs, pairs=pairs[at : at + n], pre=pre[at : at + n])
                at += n
            self._ahead[key] = a
        return len(jobs)

    def _plan(
        self,
        spec: ModelSpec,
        window: StoredWindow,
        ref: tuple[Mapping[str, bytes], ModelCalibration | None] | None,
    ) -> list[tuple[str, Mapping[str, bytes]]]:
        """(baseline, its sketches) of each baseline ``window`` is judged against, in order."""
        if window.key.scale not in spec.alerts.windows:
            return []
        out: list[tuple[str, Mapping[str, bytes]]] = []
        for baseline in spec.alerts.baselines:
            base = self._baseline(spec, window.key, baseline, ref)
            if base is not None:
                out.append((baseline, base))
        return out

    @staticmethod
    def _trails(spec: ModelSpec, window: StoredWindow) -> bool:
        """Whether ``window`` closes a trailing day that is judged (step 5b)."""
        return window.key.scale == HOUR and spec.alerts.trailing_day and DAY in spec.alerts.windows

    def _trailing(
        self,
        spec: ModelSpec,
        hour: StoredWindow,
        ref: tuple[Mapping[str, bytes], ModelCalibration | None] | None,
        out: dict[str, tuple[Decision, ...]],
        events: list[AlertEvent],
    ) -> WindowKey | None:
        """Step 5b: judge the trailing day ``hour`` closes against the reference."""
        if ref is None:
            return None
        ahead = self._ahead.pop((spec.name, hour.key, TRAILING_DAY), None)
        fits = ahead is not None and ahead.fits(hour, ref[0], ref) and ahead.built is not None
        if ahead is not None and fits and ahead.built is not None:
            built = ahead.built
        else:
            ahead = None
            self._kinds[spec.name] = spec.kinds
            built = self.trailing.build(spec.name, hour)
        if built.part.hours < TRAILING_MIN_HOURS:
            # The first hours of a stream, or a long outage: part of a day's cycle only.
            why = f"fewer than {TRAILING_MIN_HOURS} of its 24 hours hold events"
            self._say(spec.name, why, "trailing day")
            return None
        # The merged sketches are judged as they are: not encoded, not in the decode cache
        # (a day-sized blob per column an hour would evict the hours the suffixes reuse).
        window = StoredWindow(built.key, built.part.events, built.part.late, {})
        merged = _merged(built)
        state = self.store.alert_states(spec.name, TRAILING_DAY, ("reference",)).get("reference")
        measured = ahead.jobs if ahead is not None else None
        judged = self._decide(spec, window, "reference", ref[0], ref[1], merged, measured)
        # Overlapping windows: the level already spends the budget per excursion, and the
        # next window's "confirmation" shares 23 of its 24 hours — every breach pages.
        rules = spec.alerts.model_copy(update={"consecutive_breaches": 1})
        new_state, new_events = step(
            state or AlertState(spec.name, TRAILING_DAY, "reference"), window.key, judged, rules
        )
        self.store.commit(
            EvaluationCommit(
                spec.name,
                window.key,
                "reference",
                judged,
                new_state,
                [self.encode(e) for e in new_events],
            )
        )
        out["reference"] = tuple(judged)
        events.extend(new_events)
        return window.key

    def _decode_column(self, model: str, name: str, blob: bytes) -> Decoded | None:
        if name == JOINT_KEY:
            return self.load_joint(blob)
        kind = self._kinds[model].get(name)
        return None if kind is None else self._load(kind, blob)  # None: no longer monitored

    def _baseline(
        self,
        spec: ModelSpec,
        key: WindowKey,
        baseline: str,
        ref: tuple[Mapping[str, bytes], ModelCalibration | None] | None,
    ) -> Mapping[str, bytes] | None:
        if baseline == "reference":
            return ref[0] if ref is not None else None
        lag = 1 if baseline == "previous" else seasonal_lag(key.scale)
        earlier = self.store.window(spec.name, key.previous(lag))
        return earlier.sketches if earlier is not None and earlier.events else None

    def _decide(
        self,
        spec: ModelSpec,
        window: StoredWindow,
        baseline: str,
        base: Mapping[str, bytes],
        calibration: ModelCalibration | None,
        decoded: Mapping[str, Sketch] | None = None,
        measured: _Jobs | None = None,
    ) -> list[Decision]:
        """Decisions of ``window`` against ``base``.

        ``decoded``: the window's sketches already decoded (the trailing day's merges),
        else they are decoded from the window's blobs. ``measured``: this window's and
        baseline's jobs and measures from :meth:`measure_ahead`, else measured here.
        """
        scale = window.key.scale
        kinds = spec.kinds
        joint_on = bool(spec.joint_columns[0]) and scale != TRAILING_DAY
        alpha = model_alpha(
            spec.alerts.false_alarm_budget,
            kinds,
            "hour" if scale == HOUR else "day",
            n_streams=max(1, len(spec.alerts.baselines)),
            extra_tests=JOINT_TESTS if joint_on else 0,
        )
        if scale == TRAILING_DAY:
            alpha = trailing_alpha(alpha)
        if measured is None:
            todo = self._jobs(spec, window, (baseline, base), calibration, decoded)
            pairs, pre = self._measure(todo.jobs)
            measured = replace(todo, pairs=pairs, pre=pre)
        out = [
            evaluate_feature(
                feat.name,
                feat.kind,
                b,
                w,
                cal,
                alpha=alpha,
                thresholds=thr,
                min_window_events=spec.alerts.min_window_events,
                scale="hour" if scale == HOUR else "day",
                model_events=window.events,
                measures=ms,
                pair=pair,
            )
            for (feat, b, w, cal, thr), ms, pair in zip(
                measured.jobs, measured.pre, measured.pairs, strict=True
            )
        ]
        if joint_on and baseline == "reference":
            joint = self._joint(spec, window, base, calibration, alpha)
            if joint is not None:
                out.append(joint)
        return out

    def _jobs(
        self,
        spec: ModelSpec,
        window: StoredWindow,
        against: tuple[str, Mapping[str, bytes]],
        calibration: ModelCalibration | None,
        decoded: Mapping[str, Sketch] | None = None,
    ) -> _Jobs:
        """The (feature, baseline sketch, window sketch, calibration, thresholds) judged.

        ``against``: (baseline, its sketches), as :meth:`_plan` lists them.
        """
        baseline, base = against
        scale = window.key.scale
        jobs = []
        for feat in spec.monitored:
            have = decoded if decoded is not None else window.sketches
            if feat.name not in base or feat.name not in have:
                continue
            seasonal = _seasonal(calibration, feat.name, scale, feat.seasonal)
            if seasonal != (baseline == "seasonal"):
                continue
            cal = None
            if calibration is not None:
                # Window-vs-window baselines share the seasonal (lagged window) calibration.
                which: Literal["reference", "seasonal"] = (
                    "reference" if baseline == "reference" else "seasonal"
                )
                cal = calibration.get(feat.name, "hour" if scale == HOUR else "day", which)
            b = self._load(feat.kind, base[feat.name])
            w = (
                decoded[feat.name]
                if decoded is not None
                else self._load(feat.kind, window.sketches[feat.name])
            )
            jobs.append((feat, b, w, cal, dict(feat.thresholds)))
        return _Jobs(jobs, [None] * len(jobs), [None] * len(jobs))

    def _measure(
        self, jobs: Sequence[_Job], groups: Sequence[int] | None = None
    ) -> tuple[list[CategoricalPair | None], list[dict[str, Measure] | None]]:
        """(aligned categorical pairs, measures) of ``jobs``: ``None`` each with ``batch`` off.

        All columns in one array pass per kind (``batch``), else pair by pair in
        :func:`evaluate_feature`. A categorical pair is aligned once, for its measures
        and its posterior. ``groups``: as :func:`batch_measures`.
        """
        if not self.batch:
            return [None] * len(jobs), [None] * len(jobs)
        pairs: list[CategoricalPair | None] = [
            CategoricalPair.of(b, w)  # type: ignore[arg-type]
            if f.kind == "categorical"
            else None
            for f, b, w, _, _ in jobs
        ]
        pre = batch_measures(
            [(f.kind, b, w, t) for f, b, w, _, t in jobs], pairs=pairs, groups=groups
        )
        return pairs, pre

    def _joint(
        self,
        spec: ModelSpec,
        window: StoredWindow,
        base: Mapping[str, bytes],
        calibration: ModelCalibration | None,
        alpha: float,
    ) -> Decision | None:
        """The joint member against the reference; None (said once per reason) if it cannot be."""
        scale: Literal["hour", "day"] = "hour" if window.key.scale == HOUR else "day"
        ref_blob, win_blob = base.get(JOINT_KEY), window.sketches.get(JOINT_KEY)
        if ref_blob is None or win_blob is None:
            which = "the reference" if ref_blob is None else "this window"
            self._say(spec.name, f"{which} has no joint sketch (rebuild the reference)")
            return None
        try:
            ref, win = self.load_joint(ref_blob), self.load_joint(win_blob)
            win, why = align_indicators(ref, win)
            if why is not None:
                self._say(spec.name, why, "categorical indicators")
            ref.check_compatible(win)
        except (SketchDecodeError, ValueError) as e:
            self._say(spec.name, f"joint sketches not comparable: {e}")
            return None
        raw = calibration.joint.get(scale) if calibration is not None else None
        cal = JointCalibration.from_dict(raw) if raw else None
        rules = spec.joint
        d = decide_joint(
            ref,
            win,
            cal,
            alpha=alpha,
            min_corr_change=rules.min_corr_change,
            min_error_increase=rules.min_error_increase,
            min_window_events=spec.alerts.min_window_events,
            scale=scale,
        )
        if win.rows < window.events:
            note = f"joint sketch holds {win.rows} of the window's {window.events} events"
            d = replace(d, reasons=(*d.reasons, note))
        return d

    def _say(self, model: str, why: str, what: str = "joint member") -> None:
        key = (model, f"{what}: {why}")
        if key not in self._said:
            self._said.add(key)
            line = f"model {model}: {what} not judged: {why}"
            self.notes.append(line)
            if self.warn is not None:
                self.warn(line)

    def load(self, kind: str, blob: bytes) -> Sketch:
        """``blob`` decoded, through the decode cache (a replay's rollup shares it)."""
        return self._load(kind, blob)

    def remember(self, kind: str, blob: bytes, sketch: Sketch) -> None:
        """``sketch`` is ``blob`` decoded (a rollup merged it): it is not decoded again."""
        self._remember((kind, blob), sketch)

    def load_joint(self, blob: bytes) -> JointSketch:
        """A joint sketch's blob decoded, through the decode cache (judging never mutates it)."""
        key = ("joint", blob)
        hit = self._decoded.get(key)
        if isinstance(hit, JointSketch):
            self._decoded.move_to_end(key)
            return hit
        joint = JointSketch.from_bytes(blob)
        self._remember(key, joint)
        return joint

    def remember_joint(self, blob: bytes, joint: JointSketch) -> None:
        """``joint`` is ``blob`` decoded (a rollup merged it): it is not decoded again."""
        self._remember(("joint", blob), joint)

    def _load(self, kind: str, blob: bytes) -> Sketch:
        # Sketches are values (measures never mutate them): one decode per distinct blob.
        key = (kind, blob)
        hit = self._decoded.get(key)
        if hit is not None and not isinstance(hit, JointSketch):
            self._decoded.move_to_end(key)
            return hit
        sketch = self.params.load(kind, blob)
        self._remember(key, sketch)
        return sketch

    def _remember(self, key: tuple[str, bytes], sketch: Sketch | JointSketch) -> None:
        self._decoded[key] = sketch
        if len(self._decoded) > self.cache_size:
            self._decoded.popitem(last=False)


_Job = tuple[FeatureSpec, Sketch, Sketch, FeatureCalibration | None, dict[str, float]]


@dataclass(frozen=True)
class _Jobs:
    """The pairs of one window against one baseline, and their measures once measured."""

    jobs: list[_Job]
    pairs: list[CategoricalPair | None]
    pre: list[dict[str, Measure] | None]


@dataclass
class _Ahead:
    """What :meth:`Evaluator.measure_ahead` did for one window and baseline (or trailing day)."""

    window: StoredWindow
    base: Mapping[str, bytes]
    ref: tuple[Mapping[str, bytes], ModelCalibration | None] | None
    jobs: _Jobs | None
    built: TrailingWindow | None = None

    def fits(
        self,
        window: StoredWindow,
        base: Mapping[str, bytes],
        ref: tuple[Mapping[str, bytes], ModelCalibration | None] | None,
    ) -> bool:
        """Measured from these very objects (windows, sketches and references are values)."""
        return self.window is window and self.base is base and self.ref is ref


def _merged(built: TrailingWindow) -> dict[str, Sketch]:
    """A built trailing day's feature sketches (the joint member is judged on hours only)."""
    return {n: s for n, s in built.part.sketches.items() if not isinstance(s, JointSketch)}


def _seasonal(calibration: ModelCalibration | None, feature: str, scale: str, setting: Any) -> bool:
    if setting is True or setting is False:
        return bool(setting)
    if calibration is None:
        return False
    return (
        calibration.baseline_for(feature, "hour" if scale == HOUR else "day", "auto") == "seasonal"
    )


class AlertLinks(Protocol):
    """The deployment-wide links an alert carries (``Settings.alerts`` has them)."""

    @property
    def dashboard_base_url(self) -> str:
        """Where the dashboard is served."""
        ...

    @property
    def runbook_url(self) -> str | None:
        """The runbook, unless a model names its own."""
        ...


class Deployment(Protocol):
    """What alert encoding needs of the deployment (``Settings`` satisfies it).

    A protocol, not ``stream.settings``: the pipeline does not depend on the
    settings layer; the composition root passes its settings in.
    """

    @property
    def models(self) -> Catalog:
        """The models, for each one's own runbook link."""
        ...

    @property
    def alerts(self) -> AlertLinks:
        """The deployment's links."""
        ...


def alert_encoder(
    deployment: Deployment, *, namespace: str | None = None
) -> Callable[[AlertEvent], bytes]:
    """Lifecycle event → alerts-topic JSON, with this deployment's links.

    ``namespace``: a replay's, so its alerts' dashboard links open its results.
    """

    def encode(event: AlertEvent) -> bytes:
        spec = deployment.models.model(event.model)
        runbook = spec.alerts.runbook_url or deployment.alerts.runbook_url
        alert = build_alert(
            event,
            dashboard_base=deployment.alerts.dashboard_base_url,
            runbook_url=runbook,
            namespace=namespace,
        )
        return alert.to_json()

    return encode
