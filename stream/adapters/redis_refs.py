"""Reference profiles in Redis: one hash per (model, name), written whole in one transaction."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from stream.adapters.redis_keys import Keys
from stream.catalog import ModelSpec
from stream.core.multiclass import MulticlassPerformance
from stream.core.performance import BinaryPerformance
from stream.core.regression import RegressionPerformance
from stream.core.sketch import JointSketch
from stream.core.sketch.params import Sketch, SketchParams
from stream.pipeline.ports.data import JOINT_KEY
from stream.pipeline.reference import Reference

__all__ = ["RedisReferences"]

META = b"meta"
CALIBRATION = b"calibration"
PERFORMANCE = b"perf"
MULTICLASS = b"mperf"
"""A multiclass model's reference labels (MulticlassPerformance bytes)."""
REGRESSION = b"rperf"
"""A regression model's reference labels (RegressionPerformance bytes)."""


class RedisReferences:
    """Save, load and list references stored as one hash each.

    Fields: merged sketches (``f:<col>``), hourly sketches (``h:<hour>:<col>``),
    ``meta`` (provenance JSON) and ``calibration`` (JSON).
    """

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._r = client
        self.keys = Keys(namespace)

    def save(self, ref: Reference, calibration: dict[str, Any] | None = None) -> None:
        """Replace the stored reference ``(ref.model, ref.name)`` atomically."""
        key = self.keys.reference(ref.model, ref.name)
        fields: dict[bytes, bytes] = {META: json.dumps(ref.describe(), sort_keys=True).encode()}
        if calibration is not None:
            fields[CALIBRATION] = json.dumps(calibration, sort_keys=True).encode()
        for name, sketch in ref.sketches.items():
            fields[b"f:" + name.encode()] = sketch.to_bytes()
        if ref.performance is not None:
            fields[PERFORMANCE] = ref.performance.to_bytes()
        if ref.multiclass is not None:
            fields[MULTICLASS] = ref.multiclass.to_bytes()
        if ref.regression is not None:
            fields[REGRESSION] = ref.regression.to_bytes()
        for hour, sketches in ref.hours.items():
            for name, sketch in sketches.items():
                fields[f"h:{hour}:{name}".encode()] = sketch.to_bytes()
        if ref.joint is not None:
            fields[b"f:" + JOINT_KEY.encode()] = ref.joint.to_bytes()
        for hour, joint in ref.joint_hours.items():
            fields[f"h:{hour}:{JOINT_KEY}".encode()] = joint.to_bytes()
        with self._r.pipeline(transaction=True) as tx:
            tx.delete(key)
            tx.hset(key, mapping=fields)  # type: ignore[arg-type]
            tx.sadd(self.keys.references(ref.model), ref.name)
            tx.execute()

    def names(self, model: str) -> list[str]:
        """Stored reference names of ``model``."""
        return sorted(
            n.decode() for n in cast("set[bytes]", self._r.smembers(self.keys.references(model)))
        )

    def meta(self, model: str, name: str) -> dict[str, Any] | None:
        """The stored provenance summary, or None when there is no such reference."""
        raw = cast("bytes | None", self._r.hget(self.keys.reference(model, name), META))
        return None if raw is None else dict(json.loads(raw))

    def calibration(self, model: str, name: str) -> dict[str, Any] | None:
        """The stored calibration JSON, if any."""
        raw = cast("bytes | None", self._r.hget(self.keys.reference(model, name), CALIBRATION))
        return None if raw is None else dict(json.loads(raw))

    def load(
        self, spec: ModelSpec, name: str, params: SketchParams | None = None
    ) -> Reference | None:
        """The whole reference, or None when it does not exist."""
        p = params or SketchParams()
        blob = cast("dict[bytes, bytes]", self._r.hgetall(self.keys.reference(spec.name, name)))
        if not blob:
            return None
        kinds = spec.kinds
        sketches: dict[str, Sketch] = {}
        hours: dict[int, dict[str, Sketch]] = {}
        joint: JointSketch | None = None
        joint_hours: dict[int, JointSketch] = {}
        for field, value in blob.items():
            text = field.decode()
            if text.startswith("f:") and text[2:] in kinds:
                sketches[text[2:]] = p.load(kinds[text[2:]], value)
            elif text == "f:" + JOINT_KEY:
                joint = JointSketch.from_bytes(value)
            elif text.startswith("h:"):
                _, hour, col = text.split(":", 2)
                if col in kinds:
                    hours.setdefault(int(hour), {})[col] = p.load(kinds[col], value)
                elif col == JOINT_KEY:
                    joint_hours[int(hour)] = JointSketch.from_bytes(value)
        meta = json.loads(blob.get(META, b"{}"))
        perf = blob.get(PERFORMANCE)
        mperf = blob.get(MULTICLASS)
        rperf = blob.get(REGRESSION)
        return Reference(
            model=spec.name,
            name=name,
            sketches=sketches,
            hours=dict(sorted(hours.items())),
            events=int(meta.get("events", 0)),
            rejected=int(meta.get("rejected", 0)),
            meta={k: v for k, v in meta.items() if k not in ("model", "name")},
            joint=joint,
            joint_hours=dict(sorted(joint_hours.items())),
            performance=None if perf is None else BinaryPerformance.from_bytes(perf),
            multiclass=None if mperf is None else MulticlassPerformance.from_bytes(mperf),
            regression=None if rperf is None else RegressionPerformance.from_bytes(rperf),
            unlabelled=int(meta.get("unlabelled", 0)),
            label_rejected=int(meta.get("label_rejected", 0)),
        )

    def delete(self, model: str, name: str) -> bool:
        """Remove a reference; True when it existed."""
        with self._r.pipeline(transaction=True) as tx:
            tx.delete(self.keys.reference(model, name))
            tx.srem(self.keys.references(model), name)
            removed, _ = tx.execute()
        return bool(removed)
