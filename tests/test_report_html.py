"""`mineshaft mine --report PATH`: a self-contained HTML page about a real run, checked as a browser renders it
(headless Chromium: its DOM and a screenshot), and a run without --report that never loads the report code."""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli
from mineshaft.io import read_lines
from mineshaft.mining.report_html import ReportData, ReportPair, SideLanguages, render_html, report_from_result

SAMPLE = ROOT / "mineshaft" / "data"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1200, 1600)
MINE = ["mine", str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), "--encoder", "mineshaft-use-soft", "--threads", "1",
        "--max-length-ratio", "1.4", "-q"]


@pytest.fixture(scope="module")
def mined(tmp_path_factory) -> Path:
    """A real `mine` run on the shipped sample, with a report (a filter on, so some kept pairs are filtered)."""
    d = tmp_path_factory.mktemp("report")
    r = run_cli(*MINE, "--out", str(d / "pairs.tsv"), "--report", str(d / "report.html"))
    assert r.returncode == 0, r.stderr.decode()
    return d


def section(page: str, table_id: str) -> str:
    start = page.index(f'id="{table_id}"')
    return page[start:page.index("</table>", start)]


def test_report_page_is_self_contained_and_complete(mined):
    page = (mined / "report.html").read_text(encoding="utf-8")
    # nothing to fetch: no script, stylesheet link, external image or font (the SVG namespace is only a name)
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|src=", page, re.I)
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/2000/svg"}
    assert '<svg id="margin-chart"' in page and 'id="cut-marker"' in page and '<svg id="ratio-chart"' in page
    # the pairs either side of the cut, texts escaped: 15 lowest kept, and the 6 candidates below 1.25
    above, below = section(page, "pairs-above"), section(page, "pairs-below")
    assert above.count("<tr class=\"kept") == 15 and below.count("<tr class=\"dropped") == 6
    assert "removed by a filter" in above
    pairs = [line.split("\t") for line in read_lines(mined / "pairs.tsv")]
    lowest = min(pairs, key=lambda p: float(p[0]))
    assert html.escape(lowest[1]) in above and html.escape(lowest[2]) in above
    assert "&#x27;" in page and "don't" not in page  # the sample's apostrophes, escaped
    scores = [float(m) for m in re.findall(r'<td class="score">(-?[\d.]+)', below)]
    assert len(scores) == 6 and all(s < 1.25 for s in scores) and scores == sorted(scores, reverse=True)
    # counts, languages, the cut and the command line
    tiles = dict((label, int(num.replace(",", ""))) for num, label in
                 re.findall(r'<div class="num">([\d,]+)</div><div class="lbl">([^<]+)</div>', page))
    assert tiles == {"source lines": 90, "target lines": 90, "candidate pairs": 83, "at or above the cut": 77,
                     "removed by filters": 13, "written": len(pairs)}
    assert "13 length-ratio" in page and "the model&#x27;s calibrated threshold" in page
    assert '<td class="name">Latin</td>' in page
    # every run fits the null model, so a calibrated cut too gets its estimated precision and null curve
    assert re.search(r'id="precision">\d+\.\d%<', page) and '<polyline id="null-curve"' in page
    assert "--report" in page and "--max-length-ratio 1.4" in page


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_a_headless_browser(mined, tmp_path):
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}"]
    url = (mined / "report.html").as_uri()
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, timeout=120, text=True).stdout
    assert '<svg id="margin-chart"' in dom and 'id="cut-marker"' in dom
    assert len(re.findall(r'<rect class="bar (kept|dropped)"', dom)) >= 10
    assert section(dom, "pairs-above").count("<tr") == 16 and section(dom, "pairs-below").count("<tr") == 7
    png = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={png}", url], capture_output=True, timeout=120)
    width, height, pixels = read_png(png)
    assert (width, height) == WINDOW
    colours = np.unique(pixels[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) > 50  # text, bars, tiles: not a blank page
    for rgb in ((0x25, 0x63, 0xEB), (0xCB, 0xD5, 0xE1)):  # the kept and the dropped bars are drawn
        assert (np.abs(pixels[..., :3].astype(int) - rgb).max(axis=2) <= 2).sum() > 500, rgb


def read_png(path: Path) -> tuple[int, int, np.ndarray]:
    """(width, height, pixels) of an 8-bit, non-interlaced PNG (what Chromium writes), decoded here."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and not interlace
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, 1 + width * ch)
    out = np.zeros((height, width * ch), dtype=np.int32)
    prev = np.zeros(width * ch, dtype=np.int32)
    for y in range(height):
        kind, line = int(raw[y, 0]), raw[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:
            cur = np.cumsum(line.reshape(width, ch), axis=0).reshape(-1) & 255
        elif kind == 2:
            cur = (line + prev) & 255
        else:  # average and Paeth: byte by byte
            cur, up = line.tolist(), prev.tolist()
            for i in range(len(cur)):
                a = cur[i - ch] if i >= ch else 0
                b = up[i]
                if kind == 3:
                    cur[i] = (cur[i] + ((a + b) >> 1)) & 255
                else:
                    c = up[i - ch] if i >= ch else 0
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            cur = np.asarray(cur, dtype=np.int32)
        out[y] = prev = cur
    return width, height, out.reshape(height, width, ch).astype(np.uint8)


def test_a_run_without_report_never_imports_it(mined, tmp_path):
    """No --report: the report module is not even imported, and the pairs are byte for byte those of the run with it."""
    out = tmp_path / "pairs.tsv"
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "mineshaft", *MINE, "--out", str(out)],
                       capture_output=True, text=True, timeout=600, env=os.environ)
    assert r.returncode == 0, r.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "mineshaft.mining.mine" in imported and "mineshaft.mining.report_html" not in imported
    assert out.read_bytes() == (mined / "pairs.tsv").read_bytes()


@pytest.mark.parametrize("args, message", [(("--report", "-"), "--report needs a file path"),
                                           (("--out", "SAME", "--report", "SAME"), "is the pairs' output file too")])
def test_bad_report_path_is_one_line_exit_2(tmp_path, args, message):
    args = [str(tmp_path / "x.tsv") if a == "SAME" else a for a in args]
    r = run_cli(*MINE, *args)
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and "\n" not in err and message in err, err


class FakeFit:
    """What the threshold fit will attach as result.info["threshold_fit"]."""

    precision = 0.912

    @staticmethod
    def null_density(x: np.ndarray) -> np.ndarray:
        return 40.0 * np.exp(-((x - 1.0) / 0.1) ** 2)


def test_report_reads_the_threshold_fit_when_present(tmp_path):
    """A library run: the page overlays the fit's null density and shows its precision, and works without them."""
    import mineshaft
    from mineshaft.mining.output import pair_texts

    result = mineshaft.mine(SAMPLE / "sample.de", SAMPLE / "sample.en", tmp_path / "work", encoder_name="default")
    src_texts, tgt_texts = pair_texts(result)
    assert result.info["threshold_fit"] is not None  # a real run always fits its null model
    result.info["threshold_fit"] = None  # as where too few candidates were there to fit one
    plain = render_html(report_from_result(result, result.pairs, src_texts, tgt_texts))
    result.info["threshold_fit"] = FakeFit()
    data = report_from_result(result, result.pairs, src_texts, tgt_texts, command="python mine.py")
    page = render_html(data)
    assert data.precision == pytest.approx(0.912) and 'id="precision">91.2%<' in page
    assert '<polyline id="null-curve"' in page and "estimated non-translations" in page
    x, y = data.null_curve
    assert np.allclose(y, FakeFit.null_density(x))
    assert 'id="null-curve"' not in plain and 'id="precision">—<' in plain
    result.info["threshold_fit"] = None  # the fit may be None
    assert 'id="null-curve"' not in render_html(report_from_result(result, result.pairs, src_texts, tgt_texts))


def test_render_escapes_text_and_handles_no_cut():
    evil = '<script>alert("x")</script> & <b>'
    pair = ReportPair(1.5, evil, "fine", "1", "2")
    data = ReportData(np.array([1.0, 1.2, 1.5]), None, "no threshold (--threshold none)", [pair], [],
                      np.array([1.0]), {"candidate pairs": 3}, sides=[SideLanguages("source", 1, {"Latin": 1.0})],
                      command="mineshaft mine '<a>' b", inputs=("<a>", "b"))
    page = render_html(data)
    assert "<script" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in page
    assert 'id="cut-marker"' not in page and 'id="pairs-below"' not in page and "Lowest-scoring kept pairs" in page
    assert "mineshaft mine &#x27;&lt;a&gt;&#x27; b" in page
