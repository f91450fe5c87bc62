"""Regenerate screenshots/*.svg (and .png when cairosvg is importable) from a
real demo area: ``backend serve`` with two dbs and the demo load.

    .venv/bin/python screenshots/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from mttui.__main__ import make_app
from mttui.demo import Demo
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.detail import DetailScreen
from mttui.screens.help import HelpScreen

OUT = Path(__file__).resolve().parent
SIZE = (150, 36)


async def shoot(area: Path) -> list[Path]:
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

    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: sum(r.state == "RUNNING" for r in app.rows.values()) >= 2)
        await pilot.pause(3.0)  # a few pings for the load history
        app.clear_notifications()
        await pilot.pause(0.3)
        save("main-table")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(1.5)
        save("detail")
        await pilot.press("escape", "s")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.3)
        save("stop-confirm")
        await pilot.press("escape", "question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.3)
        save("help")
        await pilot.press("escape", "q")
    return saved


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
        svgs = asyncio.run(shoot(demo.root))
    finally:
        demo.cleanup()
    to_png(svgs)
    for svg in svgs:
        print(svg.relative_to(OUT.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
