"""Where a replay's CPU goes: a cProfile stats file split into the replay's phases.

Run: .venv/bin/python benchmarks/replay_split.py /tmp/replay.prof [/tmp/other.prof ...]
(stats from ``bench_replay_detect.py --cprofile PATH``; several files print side by side).

The phases are mutually exclusive: each is the cumulative time of its entry points (or
of one call edge, caller → callee), and "other" is what is left of the process. Times
are under the profiler (about 1.5-2x the plain run), so compare shares, not seconds.
"""

from __future__ import annotations

import argparse
import pstats
import sys
from collections.abc import Callable

Key = tuple[str, int, str]


class Split:
    """Cumulative times of functions and call edges, looked up by file suffix and name."""

    def __init__(self, path: str) -> None:
        self.raw: dict[Key, tuple[int, int, float, float, dict[Key, tuple[float, ...]]]]
        self.raw = pstats.Stats(path).stats  # type: ignore[attr-defined]

    def _keys(self, where: str, name: str) -> list[Key]:
        return [k for k in self.raw if k[0].endswith(where) and k[2] == name]

    def cum(self, where: str, name: str) -> float:
        """Cumulative seconds of every function ``name`` in a file ending ``where``."""
        return sum(self.raw[k][3] for k in self._keys(where, name))

    def cum_outer(self, where: str, name: str) -> float:
        """Like :meth:`cum`, for a name that calls itself under another function: the
        calls not made from a function of the same name."""
        keys = set(self._keys(where, name))
        total = 0.0
        for k in keys:
            for c, row in self.raw[k][4].items():
                if c not in keys:
                    total += float(row[3])
        return total

    def edge(self, caller: tuple[str, str], callee: tuple[str, str]) -> float:
        """Cumulative seconds of ``callee`` when called by ``caller``."""
        froms = set(self._keys(*caller))
        total = 0.0
        for k in self._keys(*callee):
            for c, row in self.raw[k][4].items():
                if c in froms:
                    total += float(row[3])
        return total

    def callers_total(self, callee: tuple[str, str], caller_file: str) -> float:
        """Cumulative seconds of ``callee`` called from any function in ``caller_file``."""
        total = 0.0
        for k in self._keys(*callee):
            for c, row in self.raw[k][4].items():
                if c[0].endswith(caller_file):
                    total += float(row[3])
        return total


IMPORT = ("<frozen importlib._bootstrap>", "_find_and_load")
LOAD = ("sketch/params.py", "load")
FROM_BYTES = ("sketch/_wire.py", "from_bytes")
TO_BYTES = ("sketch/_wire.py", "to_bytes")


def phases(s: Split) -> dict[str, float]:
    """Seconds per phase (see the module docstring)."""
    total = s.cum("stream/cli.py", "<module>") or s.cum("<frozen runpy>", "run_module")
    ingest = s.cum("commands/replay.py", "_ingest")
    ingest_imports = s.edge(("commands/replay.py", "_ingest"), IMPORT) + s.edge(
        ("commands/replay.py", "_ingest"), ("<frozen importlib._bootstrap>", "_handle_fromlist")
    )
    # asyncio.run and Runner.run are both "run" in runners.py: the outer one, per loop.
    loop = s.cum_outer("asyncio/runners.py", "run")
    labels = s.cum("commands/replay.py", "_ingest_labels")
    read = s.cum("adapters/kafka_range.py", "read_range") + s.cum(
        "adapters/kafka_range.py", "plan_range"
    )
    parse = s.cum("contract/_parser.py", "parse_batch")
    update = s.cum("pipeline/ingest.py", "apply")
    flush = s.cum("pipeline/dataplane.py", "_flush_locked")
    out: dict[str, float] = {}
    out["start-up (imports, settings)"] = s.cum(*IMPORT)
    # Background fetches run as tasks of the loop, outside _ingest's frames.
    out["Kafka range read (plan, fetch, decompress)"] = read + max(0.0, loop - ingest - labels)
    out["parse (contract)"] = parse
    out["sketch update"] = update
    out["flush (encode + Redis writes)"] = flush
    out["ingest, rest"] = ingest - ingest_imports - read - parse - update - flush
    out["labels (ingest + model health)"] = labels + s.cum("pipeline/health_eval.py", "evaluate")

    rollup = s.cum("pipeline/replay.py", "roll_up_all")
    r_decode = s.callers_total(LOAD, "pipeline/rollup.py") + s.callers_total(
        FROM_BYTES, "pipeline/rollup.py"
    )
    r_encode = s.callers_total(TO_BYTES, "pipeline/rollup.py")
    r_merge = s.callers_total(("sketch/params.py", "merge_sketches"), "pipeline/rollup.py")
    r_merge += s.callers_total(("sketch/joint.py", "merge"), "pipeline/rollup.py")
    r_merge += s.callers_total(("sketch/numeric.py", "merge_all"), "pipeline/rollup.py")
    out["rollup: decode sketches"] = r_decode
    out["rollup: merge"] = r_merge
    out["rollup: encode"] = r_encode
    out["rollup: Redis reads/writes, rest"] = rollup - r_decode - r_encode - r_merge

    # A replay measures windows ahead (session 7): its array passes and trailing-day
    # builds run in measure_ahead, before each window's evaluate.
    evaluate = s.cum("pipeline/evaluate.py", "evaluate") + s.cum(
        "pipeline/evaluate.py", "measure_ahead"
    )
    e_decode = s.callers_total(LOAD, "pipeline/evaluate.py") + s.callers_total(
        FROM_BYTES, "pipeline/evaluate.py"
    )
    # batch_measures: one pass over a window's numeric columns (core/measures/batch.py),
    # judging as much as evaluate_feature (before session 6 it fell into "evaluation, rest").
    judge = (
        s.cum("core/decide.py", "evaluate_feature")
        + s.cum("core/decide.py", "batch_measures")
        + s.cum("core/joint.py", "decide_joint")
        + s.cum("core/joint.py", "align_indicators")
        + s.cum("core/calibrate.py", "model_alpha")
    )
    commits = s.cum("adapters/redis_eval.py", "commit")
    # A replay queues its commits and writes them from _finish (and before an outbox read).
    commits_out = s.edge(
        ("commands/replay.py", "_finish"), ("adapters/redis_eval.py", "flush")
    ) + s.edge(("adapters/redis_eval.py", "outbox"), ("adapters/redis_eval.py", "flush"))
    lifecycle = (
        s.cum("core/lifecycle.py", "step")
        + s.edge(("pipeline/evaluate.py", "evaluate"), ("pipeline/evaluate.py", "<listcomp>"))
        + s.edge(("pipeline/evaluate.py", "_trailing"), ("pipeline/evaluate.py", "<listcomp>"))
        + s.cum("adapters/redis_eval.py", "alert_states")
        + s.cum("pydantic/main.py", "model_copy")
    )
    build = s.cum("pipeline/trailing.py", "build")
    t_decode = s.edge(("pipeline/trailing.py", "_part"), ("pipeline/evaluate.py", "_decode_column"))
    t_read = s.edge(("pipeline/trailing.py", "_hour"), ("adapters/redis_eval.py", "window"))
    t_read += s.edge(("pipeline/trailing.py", "_hour"), ("adapters/redis_windows.py", "window"))
    fetch = (
        s.edge(("pipeline/evaluate.py", "_baseline"), ("adapters/redis_eval.py", "window"))
        + s.edge(("pipeline/evaluate.py", "_baseline"), ("adapters/redis_windows.py", "window"))
        + s.edge(("commands/replay.py", "_finish"), ("adapters/redis_windows.py", "window"))
        + s.cum("adapters/redis_windows.py", "mark_evaluated")
        + s.cum("adapters/redis_windows.py", "unevaluated")
        + s.cum("adapters/redis_eval.py", "reference")
    )
    out["decode sketches (evaluator)"] = e_decode
    out["judging (measures + decisions)"] = judge
    out["commits (decisions, state, outbox)"] = commits + commits_out
    out["alert lifecycle (state read, step, encode)"] = lifecycle
    out["trailing-day assembly (merges)"] = build - t_decode - t_read
    out["window fetch (windows, baselines, bookkeeping)"] = fetch + t_read
    out["evaluation, rest"] = evaluate - e_decode - judge - commits - lifecycle - (build - t_decode)
    out["evaluation, rest"] -= s.edge(
        ("pipeline/evaluate.py", "_baseline"), ("adapters/redis_eval.py", "window")
    )
    out["other"] = total - sum(out.values())
    return out


def project(split: dict[str, float], events: int, cpu_s: float, speedups: list[float]) -> None:
    """Events per CPU-second if judging alone were ``s`` times faster (the rest as measured).

    ``cpu_s``: the plain run's CPU seconds (not the profiled one); judging's share of it
    is taken from the profile (the profiler slows Python-heavy code more, so the share is
    approximate).
    """
    share = split["judging (measures + decisions)"] / sum(split.values())
    print(f"judging share {100 * share:.1f} % of {cpu_s:.1f} CPU-s ({events:,} events):")
    for sp in speedups:
        cpu = cpu_s * (1 - share) + cpu_s * share / sp
        label = "judging free" if sp == float("inf") else f"judging {sp:g}x faster"
        print(f"  {label:22} {cpu:6.1f} CPU-s  {events / cpu:9,.0f} events per CPU-second")


def main(argv: list[str], show: Callable[[str], None] = print) -> None:
    """Print the phases of each stats file side by side (seconds and % of the process)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("stats", nargs="+")
    ap.add_argument("--events", type=int, default=0, help="events replayed (for --cpu)")
    ap.add_argument(
        "--cpu",
        type=float,
        nargs="*",
        default=[],
        help="plain runs' CPU seconds, one per stats file: project judging speed-ups",
    )
    args = ap.parse_args(argv)
    paths = args.stats
    splits = [phases(Split(p)) for p in paths]
    totals = [sum(sp.values()) for sp in splits]
    head = "".join(f" | {p[-28:]:>28}" for p in paths)
    show(f"{'phase':48}{head}")
    for name in splits[0]:
        row = "".join(
            f" | {sp[name]:7.2f} s {100 * sp[name] / t:5.1f} %          "
            for sp, t in zip(splits, totals, strict=True)
        )
        show(f"{name:48}{row}")
    show(f"{'total (profiled process)':48}" + "".join(f" | {t:7.2f} s{'':19}" for t in totals))
    for path, split, cpu in zip(paths, splits, args.cpu, strict=False):
        show(f"-- {path}")
        project(split, args.events, cpu, [1, 1.5, 2, 3, 5, 10, float("inf")])


if __name__ == "__main__":
    main(sys.argv[1:])
