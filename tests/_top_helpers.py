"""Drive `mltools top` headlessly (Textual's pilot) on the NVML double, and read its screen."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console


def screen_text(app: Any) -> str:
    """What the terminal shows now, as plain text (the SVG screenshot's content)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, force_terminal=True,
        color_system="truecolor", legacy_windows=False, safe_box=False,
    )  # fmt: skip
    update = app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens, simplify=True
    )
    console.print(update)
    return console.export_text()


def screen_ansi(app: Any) -> str:
    """The screen with its styles as ANSI sequences (to check colours)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, force_terminal=True,
        color_system="truecolor", legacy_windows=False, safe_box=False,
    )  # fmt: skip
    console.print(
        app.screen._compositor.render_update(
            full=True, screen_stack=app._background_screens, simplify=True
        )
    )
    return console.export_text(styles=True)


def make_app(*, sampler: Any = None, **kw: Any) -> Any:
    """A TopApp over the real sampler (on whatever NVML the test installed)."""
    from mltools.sampler import Sampler
    from mltools.tui.app import TopApp
    from mltools.tui.sources import Source

    source = Source(sampler or Sampler())
    kw.setdefault("interval", 3600.0)  # samples only when the test asks (sample_now)
    return TopApp(source, source.frame(), **kw)


def drive(
    script: Callable[[Any, Any], Awaitable[None]],
    *,
    size: tuple[int, int] = (120, 40),
    app: Any = None,
    **kw: Any,
) -> Any:
    """Run ``script(app, pilot)`` on a headless terminal of ``size``; returns the app."""
    app = app or make_app(**kw)

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(app, pilot)

    asyncio.run(main())  # (returns once the app has closed its sampler and NVML session)
    return app


def table_pids(app: Any) -> list[int]:
    """The pids of the process table, top to bottom (as shown)."""
    return [r.pid for r in app.shown]
