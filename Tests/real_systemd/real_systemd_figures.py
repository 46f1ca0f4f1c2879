"""Figures the real-systemd suite measures (recovery times, fd-store counts),
kept during the run and printed at its end by the conftest's
pytest_terminal_summary, whether the test that measured them passed or not."""

from typing import List

FIGURES: List[str] = []


def record(text: str) -> None:
    FIGURES.append(text)
    print(text)
