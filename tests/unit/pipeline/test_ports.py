"""Values of the ports that carry logic: dead letters from contract rejections."""

from __future__ import annotations

from stream.contract import Rejection
from stream.pipeline.ports import DeadLetter


def test_a_rejection_becomes_its_dead_letter_with_the_original_bytes() -> None:
    r = Rejection("bad_json", "not JSON at byte 3", b'{"x', partition=2, offset=41, ts_ms=1_000)
    assert DeadLetter.of(r, "features") == DeadLetter(
        reason="bad_json",
        detail="not JSON at byte 3",
        raw=b'{"x',
        topic="features",
        partition=2,
        offset=41,
        timestamp_ms=1_000,
    )


def test_a_tombstone_is_dead_lettered_as_empty_bytes() -> None:
    r = Rejection("not_an_object", "tombstone", None, partition=0, offset=0, ts_ms=-1)
    letter = DeadLetter.of(r, "labels")
    assert (letter.raw, letter.topic, letter.timestamp_ms) == (b"", "labels", -1)
