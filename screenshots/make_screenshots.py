"""Regenerate screenshots/*.svg (and .png when cairosvg is importable) from a
real demo area: ``backend serve`` with two dbs and the demo load.

    .venv/bin/python screenshots/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from mttui.__main__ import make_app
from mttui.demo import Demo
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.detail import DetailScreen
from mttui.screens.help import HelpScreen

OUT = Path(__file__).resolve().parent
WIDE = (160, 42)
NARROW = (80, 24)
GRAPH_POINTS = 20  # stats polls before the first picture, one a second


async def shoot(area: Path, size: tuple[int, int], shots: list[str]) -> list[Path]:
    app = make_app(area, interval=1.0)
    saved: list[Path] = []

    async def until(pred: object, limit: float = 30.0) -> None:
        end = time.monotonic() + limit
        while not pred():  # type: ignore[operator]
            if time.monotonic() > end:
                raise SystemExit("screenshots: timed out waiting for the demo")
            await pilot.pause(0.1)

    def save(name: str) -> None:
        saved.append(Path(app.save_screenshot(f"{name}.svg", path=str(OUT))))

    async with app.run_test(size=size) as pilot:
        await until(lambda: sum(r.state == "RUNNING" for r in app.rows.values()) >= 2)
        # The graphs need a history: poll the counters faster than the monitor does.
        for n in range(1, GRAPH_POINTS + 1):
            app.stats_round()
            await until(lambda n=n: app.book.rounds >= n)
            await pilot.pause(1.0)
        app.clear_notifications()
        await pilot.pause(0.3)
        for shot in shots:
            await take(pilot, app, shot, until)
            save(shot)
        await pilot.press("q")
    return saved


async def take(pilot: Any, app: Any, shot: str, until: Any) -> None:
    """Bring the app to the screen ``shot`` names (from the main table)."""
    while len(app.screen_stack) > 1:
        await pilot.press("escape")
        await pilot.pause(0.2)
    if shot.startswith("main-table"):
        return
    if shot == "events":
        await pilot.press("e")
        await pilot.pause(0.5)
        return
    if shot == "by-db":
        await pilot.press("g")
        await pilot.pause(0.5)
        return
    if shot == "detail":
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(2.0)
        return
    if shot == "marked-confirm":
        await pilot.press("m", "down", "m", "s")  # two servers marked, one confirmation
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.3)
        return
    if shot == "help":
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.3)
        return
    raise SystemExit(f"screenshots: no recipe for {shot!r}")


def to_png(svgs: list[Path]) -> bool:
    try:
        import cairosvg  # type: ignore[import-not-found]
    except ImportError:
        print("cairosvg not importable: SVG only (pip install cairosvg for PNGs)")
        return False
    for svg in svgs:
        cairosvg.svg2png(url=str(svg), write_to=str(svg.with_suffix(".png")))
    return True


def main() -> int:
    demo = Demo()
    try:
        demo.start()
        svgs = asyncio.run(shoot(demo.root, NARROW, ["main-table-80x24"]))
        svgs += asyncio.run(shoot(demo.root, WIDE, ["main-table", "detail", "events",
                                                    "marked-confirm", "help"]))
    finally:
        demo.cleanup()
    to_png(svgs)
    for svg in svgs:
        print(svg.relative_to(OUT.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
