"""Test doubles for the protocol's ports (never for real servers)."""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.current = start

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


class RecordingCallback:
    """A proxy callback that records what it was given and answers as told."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, pgt_url: str, pgt_iou: str, pgt_id: str) -> bool:
        self.calls.append((pgt_url, pgt_iou, pgt_id))
        return self.answer
