"""The record report in a real headless Chromium: the charts are drawn (pixels of the
screenshot), and the page makes no request (Chromium's net log), while a control page
that does reference the network shows up in the same log."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from mltools.record import Recorder
from mltools.record.recorder import prepare_out_dir
from mltools.record.report import PALETTE
from tests._fake_nvml import GiB, gpu
from tests._gpu_fixtures import fake_nvml  # noqa: F401 (fixture)
from tests.ci_provides import require

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars")  # fmt: skip
# Chromium's own background traffic (time, update, account checks) despite the flags above
CHROMIUM_OWN = ("google.com", "googleapis.com", "gstatic.com", "gvt1.com", "googleusercontent.com")
# an adversarial command line: unescaped, it would make the page fetch from TEST-NET-2
TRAP = '<img src="http://198.51.100.7/x.png"><script src="http://198.51.100.7/s.js"></script>'


def read_png(path: Path) -> np.ndarray:
    """RGB pixels of an 8-bit, non-interlaced PNG (what Chromium writes), without Pillow."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and interlace == 0 and color in (2, 6), header
    bpp = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(height, -1)
    out = np.zeros((height, width * bpp), np.int32)
    prev = np.zeros(width * bpp, np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:
            cur = line.reshape(-1, bpp).cumsum(axis=0).reshape(-1) & 255
        elif kind == 2:
            cur = (line + prev) & 255
        else:  # average, Paeth: left-to-right
            c_, l_, p_ = [0] * len(line), line.tolist(), prev.tolist()
            for i in range(len(l_)):
                a = c_[i - bpp] if i >= bpp else 0
                b = p_[i]
                c = p_[i - bpp] if i >= bpp else 0
                if kind == 3:
                    c_[i] = (l_[i] + ((a + b) >> 1)) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    c_[i] = (l_[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            cur = np.array(c_, np.int32)
        out[y], prev = cur, cur
    return out.reshape(height, width, bpp)[:, :, :3]


def near(img: np.ndarray, hex_color: str, tolerance: int = 24) -> int:
    """How many pixels are within ``tolerance`` of ``hex_color`` in every channel."""
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img - rgb).max(axis=2) <= tolerance).sum())


def chromium(page: Path, tmp: Path, name: str) -> tuple[np.ndarray, list[str]]:
    """Open ``page`` headless: its screenshot's pixels and every URL the net log names."""
    shot, netlog = tmp / f"{name}.png", tmp / f"{name}-net.json"
    subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp / (name + '-profile')}",
         f"--log-net-log={netlog}", "--window-size=1100,1500", f"--screenshot={shot}",
         page.resolve().as_uri()],
        check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) in ("URL_REQUEST_START_JOB", "HOST_RESOLVER_MANAGER_REQUEST",
                                        "TCP_CONNECT_ATTEMPT"):  # fmt: skip
            url = params.get("url") or params.get("host") or params.get("address")
            if url:
                urls.append(str(url))
    return read_png(shot), urls


def foreign(urls: list[str]) -> list[str]:
    out = []
    for url in urls:
        host = urlsplit(url if "//" in url else f"//{url}").hostname or url
        if not any(host == d or host.endswith("." + d) for d in CHROMIUM_OWN):
            out.append(url)
    return out


@pytest.fixture
def report(fake_nvml, tmp_path):  # noqa: F811
    """A recording on the double: two GPUs ramping, a marker, and an adversarial command."""
    double = fake_nvml({"gpus": [gpu(0), gpu(1)]})
    clock = [1000.0]
    rec = Recorder(prepare_out_dir(tmp_path / "run", overwrite=False), clock=lambda: clock[0],
                   command=["python", TRAP])  # fmt: skip
    rec.start(os.getpid())
    for k in range(30):
        double.update({"gpus": [
            gpu(0, util_gpu=min(100, 5 * k), mem_used=k * GiB, power_mw=100_000 + 5000 * k,
                energy_mj=1000 * k * k, throttle=0x4 if 10 <= k < 15 else 0x1),
            gpu(1, util_gpu=50 + (k % 5) * 10, mem_used=10 * GiB, power_mw=150_000),
        ]})  # fmt: skip
        clock[0] = 1000.0 + k
        if k == 12:
            rec.marker(f"eval {TRAP}", source="output")
        rec.step()
    clock[0] = 1030.0
    rec.finish(reason="exited", returncode=0)
    return tmp_path / "run" / "report.html"


def test_report_draws_its_charts_and_fetches_nothing(report, tmp_path):
    require("chromium")
    html = report.read_text()
    assert TRAP not in html and "&lt;img src=" in html  # the command and marker are escaped
    assert "<script" not in html.replace(TRAP, "")
    img, urls = chromium(report, tmp_path, "report")
    assert foreign(urls) == [], foreign(urls)
    # the charts are drawn: both GPU series' colours, the plot areas, the marker line's grey
    assert near(img, PALETTE[0], 10) > 500, "GPU 0's lines are not on the screenshot"
    assert near(img, PALETTE[1], 10) > 500, "GPU 1's lines are not on the screenshot"
    assert near(img, "#fafafa", 0) > 100_000, "no plot areas"
    # and not one colour everywhere (a blank or error page)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50


def test_control_page_requests_do_show_in_the_net_log(tmp_path):
    """The method can fail: a page with a remote image and script is seen fetching."""
    require("chromium")
    page = tmp_path / "control.html"
    page.write_text(f"<!DOCTYPE html><html><body>{TRAP}<p>control</p></body></html>")
    img, urls = chromium(page, tmp_path, "control")
    assert any("198.51.100.7" in u for u in foreign(urls)), urls
    assert near(img, PALETTE[0], 10) == 0  # and no chart colours on a page without charts
