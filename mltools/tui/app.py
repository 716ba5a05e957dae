"""The Textual application of `mltools top`: panels, process table, keys, screens.

Samples come from the shared sampling layer on a thread of their own (the UI
never waits on NVML or /proc); each one is handed to the event loop, which
rebuilds the rows (:mod:`mltools.tui.model`) and the panels
(:mod:`mltools.tui.panels`). Signals go through the process stopper, which
re-checks the start time of the process that was shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static

from mltools.gpu import display
from mltools.tui import model, panels
from mltools.tui.sources import Frame, Source, StopResult

LAYOUTS = ("auto", "full", "compact")

KEYS: tuple[tuple[str, str], ...] = (
    ("q", "quit (Ctrl-C too)"),
    ("↑ ↓ PgUp PgDn", "move the cursor in the process list"),
    ("< >", "sort by the previous / next column (or click a header)"),
    ("r", "reverse the sort order"),
    ("t", "tree view of the process hierarchy"),
    ("/", "filter: user:NAME pid:N gpu:N and a regex on the command; Esc clears"),
    ("space", "tag / untag the process under the cursor"),
    ("A / U", "tag every process shown / untag all"),
    ("I T K", "send SIGINT / SIGTERM / SIGKILL to the tagged processes (else the cursor's)"),
    ("Enter", "metrics of the process under the cursor"),
    ("e", "environment of the process under the cursor"),
    ("g w a", "history: metric, time window, aggregation"),
    ("h", "show / hide the history graphs"),
    ("l", "layout: auto, full, compact (one row per GPU)"),
    ("H", "show / hide the host panel (GPU-only layout)"),
    ("p", "what `mltools gpu pick` would choose now"),
    ("c", "cluster: the GPUs of every --hosts host (over ssh, like `gpu --hosts`)"),
    ("d", "`ddp-doctor hang` on the job of the DDP rank under the cursor (a few seconds)"),
    ("F5", "sample now"),
    ("?", "this help"),
)


class InfoScreen(Screen[None]):
    """A full screen of text (environment, process metrics, help); Esc or q goes back."""

    BINDINGS: ClassVar = [
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.pop_screen", "back"),
    ]

    def __init__(
        self,
        title: str,
        render: Callable[[], Text],
        *,
        live: bool = False,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.title_text, self.render_body, self.live = title, render, live
        self.on_close = on_close

    def on_unmount(self) -> None:
        if self.on_close is not None:
            self.on_close()

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text, style="bold"), id="info-title")
        with VerticalScroll():
            yield Static(self.render_body(), id="info-body")
        yield Static(Text("Esc / q: back"), id="info-foot")

    def update(self) -> None:
        if self.is_mounted:  # (a verdict may arrive after the screen was closed)
            self.query_one("#info-body", Static).update(self.render_body())


class ConfirmScreen(ModalScreen[bool]):
    """Lists exactly what will be signalled; y sends, n or Esc cancels."""

    BINDINGS: ClassVar = [
        Binding("y", "answer(True)", "yes"),
        Binding("n", "answer(False)", "no"),
        Binding("escape", "answer(False)", "no"),
    ]

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield Static(self.text, id="confirm")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TopApp(App[None]):
    """`mltools top`: devices, host, history and processes, refreshed every ``interval``."""

    TITLE = "mltools top"
    CSS = """
    Screen { layout: vertical; }
    #devices { height: auto; padding: 0 1; }
    #host { height: auto; padding: 0 1; border-top: solid $secondary; }
    #history { height: auto; padding: 0 1; border-top: solid $secondary; }
    #procs { height: 1fr; border-top: solid $secondary; }
    #filter { display: none; height: 1; border: none; padding: 0 1; }
    #status { dock: bottom; height: 1; padding: 0 1; background: $panel; }
    #confirm { width: 90%; height: auto; max-height: 90%; border: thick $error; padding: 1 2;
               background: $surface; }
    ConfirmScreen { align: center middle; }
    #info-title, #info-foot { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS: ClassVar = [
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "interrupt", "quit", priority=True, show=False),
        Binding("less_than_sign,comma", "sort(-1)", "sort", show=False),
        Binding("greater_than_sign,full_stop", "sort(1)", "sort", show=False),
        Binding("r", "reverse", "reverse"),
        Binding("t", "tree", "tree"),
        Binding("slash", "filter", "filter"),
        Binding("escape", "clear_filter", "clear filter", show=False),
        Binding("space", "tag", "tag"),
        Binding("A", "tag_all", "tag all", show=False),
        Binding("U", "untag_all", "untag all", show=False),
        Binding("I", "signal('SIGINT')", "SIGINT", show=False),
        Binding("T", "signal('SIGTERM')", "SIGTERM", show=False),
        Binding("K", "signal('SIGKILL')", "SIGKILL", show=False),
        Binding("e", "environment", "environment"),
        Binding("g", "metric", "graph metric", show=False),
        Binding("w", "window", "graph window", show=False),
        Binding("a", "aggregation", "aggregation", show=False),
        Binding("h", "history", "history", show=False),
        Binding("l", "layout", "layout", show=False),
        Binding("H", "host", "host panel", show=False),
        Binding("p", "pick", "gpu pick", show=False),
        Binding("d", "hang", "ddp-doctor hang", show=False),
        Binding("c", "cluster", "cluster", show=False),
        Binding("f5,ctrl+r", "sample_now", "sample now", show=False),
        Binding("question_mark", "help", "help"),
    ]

    def __init__(
        self,
        source: Source,
        first: Frame,
        *,
        interval: float = 1.0,
        layout: str = "auto",
        host_panel: bool = True,
        readonly: bool = False,
        idle_after: float = 60.0,
        initial_filter: str = "",
        sort: str = "gpu_memory",
        color: bool = True,
    ) -> None:
        super().__init__()
        if not color and not self.no_color:  # TERM=dumb (NO_COLOR is Textual's own)
            from textual.filter import Monochrome

            self.no_color = True
            self._filters.append(Monochrome())
        self.source, self.frame = source, first
        self.interval, self.layout_mode, self.show_host = interval, layout, host_panel
        self.readonly, self.idle_after, self.color = (
            readonly,
            idle_after,
            color and not self.no_color,
        )
        self.sort_column, self.sort_reverse = (
            sort,
            sort in model.DESCENDING,
        )
        self.tree_view = False
        self.row_filter = model.RowFilter.parse(initial_filter)
        self.tags: dict[int, float | None] = {}  # pid -> create time shown when tagged
        self.status_message = ""
        self.metric, self.window, self.how = "util", model.WINDOWS[1], "mean"
        self.show_history: bool | None = None  # None: when there is room
        self.history = model.History()
        self.rows: list[model.ProcRow] = []
        self.shown: list[model.ProcRow] = []
        self.signalled: list[StopResult] = []  # everything sent this session (tests read it)
        self.samples = 0
        self.exit_signal: int | None = None
        self.hang_verdict: list[str] | None = None  # the last `d` verdict (tests read it)
        self.cluster_results: list[Any] | None = None  # the last cluster view's hosts
        self._idle_since: dict[int, float] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[asyncio.Future[None]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mounted_ok = False
        self._table_layout: tuple[list[str], int] | None = None
        self._shown_text: dict[str, Text] = {}
        self._table_rows: list[tuple[str, list[Text]]] = []

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(id="devices")
        yield Static(id="host")
        yield Static(id="history")
        table: DataTable[Any] = DataTable(id="procs", cursor_type="row", zebra_stripes=False)
        yield table
        yield Input(
            placeholder="filter: user:NAME pid:N gpu:N REGEX (Enter applies, Esc cancels)",
            id="filter",
        )
        yield Static(id="status")

    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                self._loop.add_signal_handler(sig, self._terminate, sig)
        self._mounted_ok = True
        self._apply(self.frame, [])
        self.query_one("#procs", DataTable).focus()
        self._thread = threading.Thread(
            target=self._run_sampler, name="mltools-top-sampler", daemon=True
        )
        self._thread.start()

    async def on_unmount(self) -> None:
        """Stop the sampler and wait for it: ``run()`` returns with the source (its NVML
        session) closed and no thread of top's left running (at most one sample's wait)."""
        self._stop.set()
        self._wake.set()
        self.source.stop_children()
        if self._thread is not None:  # awaited: the loop stays free for what the thread hands it
            await asyncio.to_thread(self._thread.join)

    def _terminate(self, signum: int) -> None:
        self.exit_signal = signum
        self.exit()

    def on_resize(self) -> None:
        self.call_after_refresh(self._render)

    def layout_now(self) -> tuple[bool, bool, int]:
        """(compact, show history, graph height) for the terminal size and GPU count."""
        width, height = self.size
        snap = self.frame.sample.gpus if self.frame.sample is not None else None
        n = len(snap.gpus) if snap is not None else 0
        mig = sum(len(g.mig_devices) for g in snap.gpus) if snap is not None else 0
        host_lines = (1 if width >= 120 else 2) + 1 if self.show_host else 0
        fixed = 1 + host_lines + 1 + 1  # devices header, host, table border, status
        if self.layout_mode == "full":
            compact = False
        elif self.layout_mode == "compact":
            compact = True
        else:
            compact = fixed + 2 * n + mig + 6 > height
        used = fixed + (n if compact else 2 * n) + mig
        room = height - used - 6  # keep the header and five process rows
        series = n + 2
        graphs = room >= series + 2 if self.show_history is None else self.show_history
        graph_h = 3 if graphs and room >= 3 * series + 2 + 8 else 1
        return compact, graphs, graph_h

    # ------------------------------------------------------------ sampling

    def _run_sampler(self) -> None:
        """Sample on the interval (or when woken), hand each frame to the event loop."""
        next_t = time.monotonic() + self.interval
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_t - time.monotonic()))
            if self._stop.is_set():
                break
            self._wake.clear()
            with self._lock:
                waiters, self._waiters = self._waiters, []
            try:
                frame = self.source.frame(tree=self.tree_view)  # (rank labels of new pids too)
            except Exception as exc:  # shown, and tried again next tick: the UI must not freeze
                frame = Frame(None, {}, f"sampling failed: {type(exc).__name__}: {exc}")
            now = time.monotonic()
            next_t += self.interval
            if next_t < now:  # a slow sample: skip the missed ticks, keep the phase
                next_t += ((now - next_t) // self.interval + 1) * self.interval
            loop = self._loop
            if loop is None or loop.is_closed():
                break
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._apply, frame, waiters)
        self.source.close()

    async def sample_now(self) -> None:
        """Take a sample now and return once it is on the screen (the F5 key; tests)."""
        assert self._loop is not None
        fut: asyncio.Future[None] = self._loop.create_future()
        with self._lock:
            self._waiters.append(fut)
        self._wake.set()
        await fut

    def _apply(self, frame: Frame, waiters: list[asyncio.Future[None]]) -> None:
        self.frame = frame
        self.samples += 1
        sample = frame.sample
        if sample is not None:
            self._record(sample, frame)
        self._render()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _record(self, sample: Any, frame: Frame) -> None:
        t = sample.t_monotonic
        snap = sample.gpus
        idle: set[int] = set()
        for g in snap.gpus if snap is not None else []:
            for metric in model.METRICS:
                self.history.add(f"gpu{g.index}:{metric}", t, model.gpu_metric(g, metric))
            busy = g.utilization_gpu_percent is None or g.utilization_gpu_percent > 0
            if busy:
                self._idle_since.pop(g.index, None)
            else:
                since = self._idle_since.setdefault(g.index, t)
                if t - since >= self.idle_after:
                    idle.add(g.index)
        h = sample.host
        if h is not None:
            self.history.add("host:cpu", t, getattr(h, "cpu_percent", None))
            used, total = (
                getattr(h, "memory_used_bytes", None),
                getattr(h, "memory_total_bytes", None),
            )
            if used is not None and total:
                self.history.add("host:memory", t, 100.0 * used / total)
        facts = frame.facts
        self.rows = model.rows_from_snapshot(
            snap,
            ddp=lambda pid, _ct: (
                (facts[pid].rank, facts[pid].job) if pid in facts else (None, None)
            ),
            idle_gpus=idle,
            create_time=lambda pid: facts[pid].create_time if pid in facts else None,
        )
        for r in self.rows:
            key = f"proc:{r.pid}:{r.gpu_label}"
            self.history.add(key + ":gpu_memory", t, r.gpu_memory_bytes)
            self.history.add(key + ":sm", t, r.sm_percent)
            self.history.add(key + ":cpu", t, r.cpu_percent)
            self.history.add(key + ":rss", t, r.rss_bytes)
        live = {f"proc:{r.pid}:{r.gpu_label}" for r in self.rows}
        for name in self.history.names():
            if name.startswith("proc:") and name.rsplit(":", 1)[0] not in live:
                self.history.drop(name)
        for pid, created in list(self.tags.items()):  # a tagged process that exited: untag
            if not any(r.pid == pid and r.create_time == created for r in self.rows) and not (
                self.tree_view and pid in facts
            ):
                del self.tags[pid]

    # ------------------------------------------------------------ rendering

    def _update(self, selector: str, content: Text) -> None:
        """Give a panel new content only when it changed (an update costs a layout pass)."""
        widget = self.query_one(selector, Static)
        if self._shown_text.get(selector) != content:
            self._shown_text[selector] = content
            widget.update(content)

    def _render(self) -> None:
        if not self._mounted_ok or not self.is_running:  # (a sample that lands while top quits)
            return
        width = self.size.width - 2
        compact, graphs, graph_h = self.layout_now()
        sample = self.frame.sample
        if sample is None or sample.gpus is None:
            why = (
                self.frame.error
                or (sample.gpu_error if sample is not None else None)
                or "no GPU data"
            )
            self._update("#devices", Text(panels.safe(why), style="bold red" if self.color else ""))
        else:
            self._update(
                "#devices", panels.devices(sample.gpus, width, compact=compact, color=self.color)
            )
        host = self.query_one("#host", Static)
        if host.display != self.show_host:
            host.display = self.show_host
        if self.show_host:
            self._update(
                "#host", panels.host(sample.host if sample else None, width, color=self.color)
            )
        hist = self.query_one("#history", Static)
        if hist.display != graphs:
            hist.display = graphs
        if graphs:
            now = sample.t_monotonic if sample is not None else time.monotonic()
            self._update(
                "#history",
                panels.history(
                    self.history,
                    sample.gpus if sample else None,
                    now,
                    metric=self.metric,
                    window=self.window,
                    how=self.how,
                    width=width,
                    height=graph_h,
                    color=self.color,
                ),
            )
        self._render_table()
        self._render_status()
        if isinstance(self.screen, InfoScreen) and self.screen.live:
            self.screen.update()

    #: room each column takes (content and padding); COMMAND gets the rest
    WIDTHS: ClassVar[dict[str, int]] = {
        "pid": 9, "user": 10, "gpu": 8, "gpu_memory": 10, "sm": 6, "cpu": 6, "rss": 10,
        "time": 9, "rank": 9, "owner": 18, "idle": 6,
    }  # fmt: skip

    def _visible_columns(self, rows: list[model.ProcRow]) -> list[tuple[str, str, bool]]:
        """Every column that has something to show, while COMMAND keeps 24 cells."""
        cols = [c for c in model.COLUMNS]
        for key, attr in (("rank", "rank"), ("owner", "owner"), ("idle", "idle_holding")):
            if not any(getattr(r, attr) for r in rows):
                cols = [c for c in cols if c[0] != key]
        for key in ("owner", "rank", "time", "rss", "sm", "cpu"):
            if self._fixed_width(cols) > self.size.width - 24:
                cols = [c for c in cols if c[0] != key]
        return cols

    def _fixed_width(self, cols: list[tuple[str, str, bool]]) -> int:
        return sum(self.WIDTHS.get(k, 0) for k, _, _ in cols) + 2

    def _render_table(self) -> None:
        table = self.query_one("#procs", DataTable)
        rows = [r for r in self.rows if not self.row_filter or self.row_filter.matches(r)]
        if self.tree_view:
            rows = model.tree_rows(
                model.sort_rows(rows, self.sort_column, self.sort_reverse),
                lambda pid: (
                    self.frame.facts[pid].parent()
                    if pid in self.frame.facts
                    else (None, None, None, None)
                ),
            )
            if self.row_filter:
                rows = [r for r in rows if r.ancestor or self.row_filter.matches(r)]
        else:
            rows = model.sort_rows(rows, self.sort_column, self.sort_reverse)
        self.shown = rows
        cursor_key = None
        if table.row_count and 0 <= table.cursor_row < table.row_count:
            with contextlib.suppress(Exception):
                cursor_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        cols = self._visible_columns(self.rows)
        keys = [k for k, _, _ in cols]
        arrow = " ▼" if self.sort_reverse else " ▲"
        headers = dict((k, h) for k, h, _ in model.COLUMNS)
        labels = [headers[k] + (arrow if k == self.sort_column else "") for k in keys]
        cells = [[self._cell(r, k) for k in keys] for r in rows]
        layout = (keys, self.size.width)
        if layout != self._table_layout:
            self._table_layout, self._table_rows = layout, []
            table.clear(columns=True)
            for key, header, right in cols:
                width = self.WIDTHS.get(key, self.size.width - self._fixed_width(cols)) - 2
                table.add_column(
                    Text(header, justify="right" if right else "left"), key=key, width=width
                )
        for col, label, (_, _, right) in zip(table.columns.values(), labels, cols):
            if col.label.plain != label:
                col.label = Text(label, justify="right" if right else "left")
                table.refresh()
        row_keys = [r.key for r in rows]
        if row_keys == [k for k, _ in self._table_rows]:
            # the same rows in the same order: update the cells that changed (a redraw of
            # the whole table every sample is most of a refresh's CPU time)
            for (key, old), new in zip(self._table_rows, cells):
                for col, a, b in zip(keys, old, new):
                    if a != b:
                        table.update_cell(key, col, b)
        else:
            table.clear()
            for key, row in zip(row_keys, cells):
                table.add_row(*row, key=key)
            if cursor_key is not None and cursor_key in row_keys:
                table.move_cursor(row=row_keys.index(cursor_key), animate=False)
        self._table_rows = list(zip(row_keys, cells))

    def _cell(self, r: model.ProcRow, key: str) -> Text:
        tagged = self.tags.get(r.pid, -1.0) == r.create_time and r.pid in self.tags
        style = "bold reverse" if tagged and self.color else ("bold" if tagged else "")
        if r.ancestor:
            style = style or ("dim" if self.color else "")
        text: str
        if key == "pid":
            text = ("*" if tagged else "") + str(r.pid)
        elif key == "user":
            text = panels.safe(r.user) if r.visible else "?"
        elif key == "gpu":
            text = r.gpu_label
        elif key == "gpu_memory":
            text = "" if r.ancestor else model.human_bytes(r.gpu_memory_bytes)
        elif key == "sm":
            text = "" if r.ancestor else ("n/a" if r.sm_percent is None else f"{r.sm_percent}%")
        elif key == "cpu":
            text = (
                ("n/a" if r.visible and not r.ancestor else "")
                if r.cpu_percent is None
                else f"{r.cpu_percent:.0f}%"
            )
        elif key == "rss":
            text = "" if r.rss_bytes is None else model.human_bytes(r.rss_bytes)
        elif key == "time":
            text = "" if r.running_seconds is None else display.duration(r.running_seconds)
        elif key == "rank":
            text = panels.safe(r.rank) if r.rank else ""
        elif key == "owner":
            text = panels.safe(r.owner) if r.owner else ""
        elif key == "idle":
            text = "idle" if r.idle_holding else ""
            if r.idle_holding and self.color:
                style = style or "yellow"
        else:
            command = panels.safe(r.command) if r.command else ""
            if not r.visible:
                command = "(not visible: another PID namespace)"
            text = r.prefix + command
        right = key in ("pid", "gpu_memory", "sm", "cpu", "rss", "time")
        return Text(
            text,
            style=style,
            justify="right" if right else "left",
            no_wrap=True,
            overflow="ellipsis",
        )

    def _render_status(self) -> None:
        parts = [
            f"sort {dict((k, h) for k, h, _ in model.COLUMNS)[self.sort_column]}{' ▼' if self.sort_reverse else ' ▲'}"
        ]
        if self.tree_view:
            parts.append("tree")
        if self.row_filter:
            parts.append(f"filter {panels.safe(self.row_filter.text)}")
        if self.tags:
            parts.append(f"{len(self.tags)} tagged")
        if self.readonly:
            parts.append("READ-ONLY")
        if self.status_message:
            parts.append(self.status_message)
        parts.append("? keys  q quit")
        self._update("#status", Text("  ".join(parts), no_wrap=True, overflow="ellipsis"))

    def say(self, message: str) -> None:
        """Show ``message`` (already safe) on the status line until the next one."""
        self.status_message = message
        self._render_status()

    # ------------------------------------------------------------ actions

    def current_row(self) -> model.ProcRow | None:
        table = self.query_one("#procs", DataTable)
        if not self.shown or not 0 <= table.cursor_row < len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def action_interrupt(self) -> None:
        self._terminate(signal.SIGINT)

    def action_sort(self, step: int) -> None:
        keys = model.SORT_KEYS
        self.sort_column = keys[(keys.index(self.sort_column) + step) % len(keys)]
        self.sort_reverse = self.sort_column in model.DESCENDING
        self._render_table()
        self._render_status()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._render_table()
        self._render_status()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = key, key in model.DESCENDING
        self._render_table()
        self._render_status()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_metrics()

    def action_tree(self) -> None:
        self.tree_view = not self.tree_view
        self._render_table()
        self._render_status()
        if self.tree_view:  # the ancestors come with the next sample
            self._wake.set()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.row_filter.text
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        try:
            self.row_filter = model.RowFilter.parse(event.value)
        except model.FilterError as exc:
            self.say(f"filter: {panels.safe(exc)}")
            return
        self.status_message = ""
        self._render_table()
        self._render_status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.row_filter = model.RowFilter.parse(event.value)
        except model.FilterError as exc:
            self.say(f"filter: {panels.safe(exc)}")
            return
        self._close_filter()

    def _close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = False
        self.query_one("#procs", DataTable).focus()
        self._render_table()
        self._render_status()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        self.row_filter = model.RowFilter()
        self.status_message = ""
        if box.display:
            box.value = ""
        self._close_filter()

    def action_tag(self) -> None:
        row = self.current_row()
        if row is None or not row.visible:
            self.say(
                "nothing to tag here"
                if row is None
                else "a process not visible here cannot be tagged"
            )
            return
        if row.pid in self.tags:
            del self.tags[row.pid]
        else:
            self.tags[row.pid] = row.create_time
        table = self.query_one("#procs", DataTable)
        self._render_table()
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1, animate=False)
        self._render_status()

    def action_tag_all(self) -> None:
        for r in self.shown:
            if r.visible and not r.ancestor:
                self.tags[r.pid] = r.create_time
        self._render_table()
        self._render_status()

    def action_untag_all(self) -> None:
        self.tags.clear()
        self._render_table()
        self._render_status()

    def targets(self) -> list[model.ProcRow]:
        """What a signal key would signal: the tagged processes, else the cursor's (one row per pid)."""
        if self.tags:
            by_pid: dict[int, model.ProcRow] = {}
            for r in self.shown + self.rows:
                if r.pid in self.tags and self.tags[r.pid] == r.create_time:
                    by_pid.setdefault(r.pid, r)
            return list(by_pid.values())
        row = self.current_row()
        return [row] if row is not None else []

    def action_signal(self, name: str) -> None:
        if self.readonly:
            self.say(f"read-only (--readonly): {name} not sent")
            return
        targets = self.targets()
        if not targets:
            self.say("no process selected")
            return
        hidden = [r for r in targets if not r.visible]
        if hidden:
            self.say(f"pid {hidden[0].pid} is not visible in this PID namespace: not signalled")
            return
        text = Text()
        text.append(
            f"Send {name} to {len(targets)} process{'es' if len(targets) != 1 else ''}?\n\n", "bold"
        )
        for r in targets:
            gpus = sorted({x.gpu_label for x in self.rows if x.pid == r.pid}) or ["-"]
            text.append(
                f"  pid {r.pid:<8} user {panels.safe(r.user) or '?':<10} GPU {','.join(gpus):<6} "
                f"{model.human_bytes(r.gpu_memory_bytes) if not r.ancestor else '':>9}  "
            )
            text.append(panels.safe(r.command or "") + "\n")
        text.append("\ny: send   n / Esc: cancel")
        sig = signal.Signals[name]

        def done(yes: bool | None) -> None:
            if yes:
                self._send(sig, targets)
            else:
                self.say(f"{name} cancelled")

        self.push_screen(ConfirmScreen(text), done)

    def _send(self, sig: signal.Signals, targets: list[model.ProcRow]) -> None:
        results = [self.source.signal(r.pid, r.create_time, sig) for r in targets]
        self.signalled.extend(results)
        ok = [r for r in results if r.outcome == "signalled"]
        bad = [r for r in results if r.outcome != "signalled"]
        text = f"{sig.name} sent to {len(ok)}"
        if bad:
            text += "; not sent: " + "; ".join(
                f"pid {r.pid} {r.outcome}" + (f" ({r.error})" if r.error else "") for r in bad
            )
        for r in ok:
            self.tags.pop(r.pid, None)
        self.say(text)
        self._wake.set()

    def action_environment(self) -> None:
        row = self.current_row()
        if row is None or not row.visible:
            self.say("no visible process under the cursor")
            return
        env = self.source.environment(row.pid)

        def body() -> Text:
            if env is None:
                return Text(
                    f"the environment of pid {row.pid} cannot be read (another user's process, or it exited)"
                )
            return Text(
                "\n".join(f"{panels.safe(k)}={panels.safe(v)}" for k, v in sorted(env.items()))
            )

        self.push_screen(
            InfoScreen(f"environment of pid {row.pid}: {panels.safe(row.command)}", body)
        )

    def action_metrics(self) -> None:
        row = self.current_row()
        if row is None or row.ancestor:
            self.say("no GPU process under the cursor")
            return
        pid, label = row.pid, row.gpu_label

        def body() -> Text:
            now = (
                self.frame.sample.t_monotonic if self.frame.sample is not None else time.monotonic()
            )
            current = next((r for r in self.rows if r.pid == pid and r.gpu_label == label), None)
            out = Text(no_wrap=True, overflow="crop")
            if current is None:
                out.append(f"pid {pid} is no longer on GPU {label}\n", "bold")
                current = row
            facts = [
                ("pid", str(current.pid)), ("user", panels.safe(current.user)),
                ("GPU", current.gpu_label), ("GPU memory", model.human_bytes(current.gpu_memory_bytes)),
                ("SM", "n/a" if current.sm_percent is None else f"{current.sm_percent}%"),
                ("CPU", "n/a" if current.cpu_percent is None else f"{current.cpu_percent:.1f}%"),
                ("host memory", model.human_bytes(current.rss_bytes)),
                ("running", display.duration(current.running_seconds)),
                ("DDP rank", panels.safe(current.rank) or "-"), ("DDP job", panels.safe(current.job) or "-"),
                ("container/job", panels.safe(current.owner) or "-"),
                ("idle holding", "yes: holds GPU memory while the GPU idles" if current.idle_holding else "no"),
                ("command", panels.safe(current.command)),
            ]  # fmt: skip
            for k, v in facts:
                out.append(f"{k:>14}  ", "bold")
                out.append(f"{v}\n")
            width = max(20, self.size.width - 22)
            for name, title, scale in (
                ("gpu_memory", "GPU memory", None), ("sm", "SM %", 100.0),
                ("cpu", "CPU %", None), ("rss", "host memory", None),
            ):  # fmt: skip
                values = self.history.columns(
                    f"proc:{pid}:{label}:{name}", now, self.window, width, self.how
                )
                out.append(f"\n{title:>14}  ", "bold")
                out.append(model.graph_lines(values, 1, scale)[0])
            return out

        self.push_screen(InfoScreen(f"process {pid} on GPU {label}", body, live=True))

    def action_metric(self) -> None:
        self.metric = model.METRICS[(model.METRICS.index(self.metric) + 1) % len(model.METRICS)]
        self._render()

    def action_window(self) -> None:
        self.window = model.WINDOWS[(model.WINDOWS.index(self.window) + 1) % len(model.WINDOWS)]
        self._render()

    def action_aggregation(self) -> None:
        self.how = model.AGGREGATIONS[
            (model.AGGREGATIONS.index(self.how) + 1) % len(model.AGGREGATIONS)
        ]
        self._render()

    def action_history(self) -> None:
        _, graphs, _ = self.layout_now()
        self.show_history = not graphs
        self._render()

    def action_layout(self) -> None:
        self.layout_mode = LAYOUTS[(LAYOUTS.index(self.layout_mode) + 1) % len(LAYOUTS)]
        self.say(f"layout {self.layout_mode}")
        self._render()

    def action_host(self) -> None:
        self.show_host = not self.show_host
        self._render()

    def action_pick(self) -> None:
        snap = self.frame.sample.gpus if self.frame.sample is not None else None
        lines = self.source.pick(snap)
        self.push_screen(
            InfoScreen("what `mltools gpu pick` would choose now", lambda: Text("\n".join(lines)))
        )

    def action_hang(self) -> None:
        row = self.current_row()
        if row is None or row.ancestor or not row.rank:
            self.say("no DDP rank under the cursor (RANK/LOCAL_RANK not in its environment)")
            return
        pids = sorted({r.pid for r in self.rows if row.job and r.job == row.job}) or [row.pid]
        state = {"lines": [f"watching pids {', '.join(map(str, pids))} (py-spy) ..."]}
        screen = InfoScreen(
            f"ddp-doctor hang: {panels.safe(row.job or f'pid {row.pid}')}",
            lambda: Text("\n".join(panels.safe(x) for x in state["lines"])),
            live=True,
        )
        self.push_screen(screen)

        def work() -> None:
            lines = self.source.hang_verdict(pids)

            def show() -> None:
                state["lines"] = lines
                self.hang_verdict = lines
                screen.update()

            self._show_from_thread(show)

        threading.Thread(target=work, name="mltools-top-hang", daemon=True).start()

    def action_cluster(self) -> None:
        hosts = self.source.hosts
        if not hosts:
            self.say("no cluster: start with --hosts node1,node2")
            return
        stop = threading.Event()
        state: dict[str, Any] = {"results": None}

        def body() -> Text:
            results = state["results"]
            if results is None:
                return Text(f"asking {len(hosts)} host(s) over ssh ...")
            width = max(40, self.size.width - 2)
            out = Text(no_wrap=True, overflow="ellipsis")
            for i, r in enumerate(results):
                out.append(("\n\n" if i else "") + panels.safe(r.host), "bold")
                if r.snapshot is None:
                    out.append(
                        f"\n  did not report: {panels.safe(r.error)}", "red" if self.color else ""
                    )
                    if r.hint:
                        out.append(f"\n  hint: {panels.safe(r.hint)}")
                    continue
                out.append("\n")
                out.append_text(panels.devices(r.snapshot, width, compact=True, color=self.color))
                for g in r.snapshot.gpus:
                    for p in g.processes or []:
                        out.append(
                            f"\n    GPU {g.index} pid {p.pid} {panels.safe(p.user) or '?'} "
                            f"{model.human_bytes(p.gpu_memory_bytes)} {panels.safe(p.command or '')}"
                        )
            return out

        screen = InfoScreen(f"cluster: {', '.join(map(panels.safe, hosts))}", body, live=True,
                            on_close=stop.set)  # fmt: skip
        self.push_screen(screen)

        def work() -> None:
            while not (stop.is_set() or self._stop.is_set()):  # the view or top closed
                results = self.source.cluster()

                def show(results: list[Any] = results) -> None:
                    state["results"] = self.cluster_results = results
                    screen.update()

                self._show_from_thread(show)
                stop.wait(max(self.interval, 5.0))

        threading.Thread(target=work, name="mltools-top-cluster", daemon=True).start()

    def _show_from_thread(self, show: Callable[[], None]) -> None:
        """Run ``show`` on the event loop, unless top has ended (its loop is gone)."""
        if self._stop.is_set():
            return
        with contextlib.suppress(RuntimeError):  # the app ended meanwhile
            self.call_from_thread(show)

    async def action_sample_now(self) -> None:
        await self.sample_now()

    def action_help(self) -> None:
        width = max(len(k) for k, _ in KEYS)
        self.push_screen(
            InfoScreen("keys", lambda: Text("\n".join(f"{k:>{width}}  {v}" for k, v in KEYS)))
        )
