"""``mine --report PATH``: one self-contained HTML page about a mining run (inline CSS and SVG, no script, no
network): the margin histogram of every candidate pair with the cut (and the estimated non-translation
margins when the threshold fit provides them), the pairs just above and just below the cut, the length
ratios of the written pairs, the scripts and languages of each side, the counts and the command line.

:func:`render_html` takes plain data (:class:`ReportData`); :func:`report_from_result` gathers it from a
:class:`~mineshaft.mining.mine.MineResult` while the job's inputs are still readable. Only a run that asks for a
report imports this module.
"""

from __future__ import annotations

import html
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from .. import __version__, progress
from ..data import DATA_DIR
from ..errors import UsageError
from ..outputs import atomic_output
from ..languages import encoder_languages, normalize_language, sample, script_counts
from .filters import _language_identifier

#: pairs shown on each side of the cut
NEAR_CUT = 15
#: lines of each side whose scripts and languages are counted
LANGUAGE_SAMPLE = 500
#: points of the estimated non-translation curve
CURVE_POINTS = 240


@dataclass
class ReportPair:
    """A candidate pair as the page shows it (texts None for embedding input)."""

    score: float
    src: str | None
    tgt: str | None
    src_id: str = ""
    tgt_id: str = ""
    filtered: bool = False  # above the cut, but removed by a filter


@dataclass
class SideLanguages:
    """What one side's sample is written in: shares of letters per script, of lines per identified language."""

    label: str
    sampled: int = 0
    scripts: dict[str, float] = field(default_factory=dict)
    languages: dict[str, float] | None = None  # None: no language identifier installed
    known: list[str] | None = None  # the encoder's languages, when recorded


@dataclass
class ReportData:
    """Everything the page shows, as plain values."""

    scores: np.ndarray  # the margin of every candidate pair
    threshold: float | None  # the cut (None: every pair kept)
    threshold_note: str  # where the cut comes from
    above: list[ReportPair]  # the lowest-scoring pairs at or above the cut, best first
    below: list[ReportPair]  # the highest-scoring pairs below it, best first
    length_ratios: np.ndarray  # source characters / target characters of each written pair
    counts: dict[str, int]  # label -> number, in display order
    filtered: dict[str, int] = field(default_factory=dict)  # filter -> pairs it removed
    sides: list[SideLanguages] = field(default_factory=list)
    precision: float | None = None  # estimated precision of the kept pairs
    #: (margins, expected non-translation candidates per unit margin), same scale as counts / bin width
    null_curve: tuple[np.ndarray, np.ndarray] | None = None
    command: str | None = None
    inputs: tuple[str, str] = ("", "")
    encoder: str | None = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


# ---------------------------------------------------------------------------------------- gather
def report_from_result(result, written, src_texts: dict, tgt_texts: dict, rules=None, command: str | None = None,
                       near: int = NEAR_CUT) -> ReportData:
    """The page's data for a finished job: ``written`` the pairs written (after ``rules``), ``src_texts`` /
    ``tgt_texts`` the ``{row: (id, text)}`` of the pairs above the cut (:func:`mineshaft.mining.mine.pair_texts`).

    Reads ``result.info``: ``candidate_scores``, ``threshold`` (a ThresholdChoice), ``candidates`` (every
    candidate pair) and, when present, ``threshold_fit`` (``null_density(x)`` and ``precision``)."""
    choice = result.info["threshold"]
    scores = np.asarray(result.info["candidate_scores"], dtype=np.float64)
    kept = result.pairs
    written_keys = set(zip(written.src.tolist(), written.tgt.tolist()))
    lo = max(len(kept) - near, 0)
    above = [_pair(s, t, sc, src_texts, tgt_texts, (s, t) not in written_keys)
             for s, t, sc in zip(kept.src[lo:].tolist(), kept.tgt[lo:].tolist(), kept.score[lo:].tolist())]
    below = _below(result, choice.value, near)
    ratios = [len(src_texts[s][1]) / max(len(tgt_texts[t][1]), 1) for s, t in zip(written.src.tolist(), written.tgt.tolist())
              if src_texts.get(s, (None, None))[1] is not None and tgt_texts.get(t, (None, None))[1] is not None]
    removed = dict(rules.removed.most_common()) if rules is not None else {}
    counts = {"source lines": result.src.n_lines, "target lines": result.tgt.n_lines, "candidate pairs": len(scores),
              "at or above the cut": len(kept), "removed by filters": sum(removed.values()),
              "written": len(written)}
    fit = result.info.get("threshold_fit")
    precision = getattr(fit, "precision", None)
    record = result.src.encoder if isinstance(result.src.encoder, dict) else {}
    return ReportData(scores, choice.value, choice.describe(), above, below, np.asarray(ratios, dtype=np.float64),
                      counts, removed, _sides(result), float(precision) if precision is not None else None,
                      _null_curve(getattr(fit, "null_density", None), scores), command,
                      _input_names(result), record.get("encoder"))


def _pair(s: int, t: int, score: float, src_texts: dict, tgt_texts: dict, filtered: bool = False) -> ReportPair:
    (sid, stext), (tid, ttext) = src_texts.get(s, (str(s + 1), None)), tgt_texts.get(t, (str(t + 1), None))
    return ReportPair(float(score), stext, ttext, sid, tid, filtered)


def _below(result, threshold: float | None, near: int) -> list[ReportPair]:
    """The best ``near`` candidates under the cut, with their texts."""
    cands = result.info.get("candidates")
    if threshold is None or cands is None:
        return []
    under = np.flatnonzero(np.asarray(cands.score) < threshold)
    under = under[np.argsort(-np.asarray(cands.score)[under], kind="stable")][:near]
    src, tgt = np.asarray(cands.src)[under].tolist(), np.asarray(cands.tgt)[under].tolist()
    texts = [side.corpus.fetch(rows) if side.corpus is not None else {}
             for side, rows in ((result.src, src), (result.tgt, tgt))]
    return [_pair(s, t, sc, texts[0], texts[1]) for s, t, sc in zip(src, tgt, np.asarray(cands.score)[under].tolist())]


def _null_curve(density, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    finite = scores[np.isfinite(scores)]
    if density is None or len(finite) == 0:
        return None
    x = np.linspace(float(finite.min()), float(finite.max()), CURVE_POINTS)
    try:
        y = np.asarray(density(x), dtype=np.float64)
    except Exception as exc:  # the page is still useful without the curve
        progress.warn(f"report: the estimated non-translation curve could not be drawn ({type(exc).__name__}: {exc})")
        return None
    ok = np.isfinite(y)
    return (x[ok], np.maximum(y[ok], 0.0)) if ok.any() and y.shape == x.shape else None


def _input_names(result) -> tuple[str, str]:
    given = result.info.get("inputs") or ("", "")
    names = [side.corpus.display or side.corpus.path if side.corpus is not None else str(path) or "embeddings"
             for side, path in zip((result.src, result.tgt), given)]
    return names[0], names[1]


def _sides(result) -> list[SideLanguages]:
    """Scripts (letters) and identified languages (lines) of a sample of each side."""
    import itertools

    try:
        lid = _language_identifier()
    except UsageError:  # py3langid missing from a broken install (it is a dependency)
        lid = None
    record = result.src.encoder if isinstance(result.src.encoder, dict) else {}
    known = encoder_languages(record["encoder"]) if record.get("encoder") else None
    sides = []
    for label, side in (("source", result.src), ("target", result.tgt)):
        info = SideLanguages(label, known=list(known["languages"]) if known else None)
        if side.corpus is not None:
            texts = sample(itertools.islice(side.corpus.iter_texts(), 4 * LANGUAGE_SAMPLE), LANGUAGE_SAMPLE)
            info.sampled = len(texts)
            letters = script_counts(texts)
            total = sum(letters.values()) or 1
            info.scripts = {s: n / total for s, n in letters.most_common()}
            if lid is not None and texts:
                found = Counter(lid(t) for t in texts)
                info.languages = {lang: n / len(texts) for lang, n in found.most_common()}
        sides.append(info)
    return sides


# ---------------------------------------------------------------------------------------- render
def write_report(path: str | os.PathLike, data: ReportData, force: bool = False) -> None:
    """Write the page to ``path`` atomically."""
    with atomic_output(path, force=force) as fh:
        fh.write(render_html(data))


def render_html(data: ReportData) -> str:
    """The whole page: one HTML document with inline CSS and SVG, nothing to fetch."""
    e = _esc
    names = [os.path.basename(p) or p for p in data.inputs]
    title = "Mining report" + (f": {e(names[0])} ↔ {e(names[1])}" if any(data.inputs) else "")
    precision = f"{100 * data.precision:.1f}%" if data.precision is not None else "—"
    tiles = "".join(f'<div class="tile"><div class="num">{n:,}</div><div class="lbl">{e(k)}</div></div>'
                    for k, n in data.counts.items())
    tiles += (f'<div class="tile accent"><div class="num" id="precision">{precision}</div>'
              f'<div class="lbl">estimated precision</div></div>')
    filters = ", ".join(f"{n:,} {e(name)}" for name, n in data.filtered.items()) or "none"
    meta = [("inputs", " ↔ ".join(e(p) for p in data.inputs)), ("encoder", e(data.encoder or "—")), ("cut", e(data.threshold_note)), ("filters removed", filters),
            ("written", e(data.created) + f" by mineshaft {e(__version__)}")]
    meta_html = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)
    cut = "no cut (every sentence's best match is kept)" if data.threshold is None else f"cut at {data.threshold:.4g}"
    above_title = "Lowest-scoring kept pairs" if data.threshold is None else "Just above the cut"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_CSS}</style></head><body><main>",
        f'<header><h1>{title}</h1><dl class="meta">{meta_html}</dl></header>',
        f'<section class="tiles">{tiles}</section>',
        '<section class="card"><h2>Margins of all candidate pairs</h2>',
        f'<p class="note">{len(data.scores):,} candidates, {cut}; '
        + ("the line shows how many non-translations the threshold fit expects at each margin." if data.null_curve
           else "no estimate of the non-translation margins is available for this run.") + "</p>",
        _margin_chart(data), "</section>",
        f'<section class="card"><h2>{above_title} <span class="sub">lowest {len(data.above)} kept, best first</span></h2>',
        _pair_table("pairs-above", data.above, data.threshold, above=True), "</section>",
    ]
    if data.threshold is not None:
        parts += ['<section class="card"><h2>Just below the cut <span class="sub">'
                  f'highest {len(data.below)} dropped, best first</span></h2>',
                  _pair_table("pairs-below", data.below, data.threshold, above=False), "</section>"]
    parts += ['<div class="cols">',
              '<section class="card"><h2>Length ratio of written pairs</h2>', _ratio_chart(data.length_ratios),
              "</section>", '<section class="card"><h2>Languages</h2>', _languages(data.sides), "</section>",
              "</div>"]
    if data.command:
        parts.append(f'<section class="card"><h2>Command</h2><pre id="command"><code>{e(data.command)}</code></pre></section>')
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _nice_ticks(lo: float, hi: float, n: int = 6, integer: bool = False) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 × 10^k; whole steps for ``integer``) covering [lo, hi]."""
    span = hi - lo
    if not span > 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw and not (integer and m == 2.5 and mag == 1))
    step = max(step, 1) if integer else step
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 10) for k in range(first, int(math.floor(hi / step + 1e-9)) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.10g}" if abs(v) >= 1e-9 else "0"


# geometry of the charts (SVG user units; the SVG scales to its box)
_W, _H, _L, _R, _T, _B = 1000, 300, 58, 18, 30, 46


def _margin_edges(scores: np.ndarray, threshold: float | None) -> np.ndarray:
    """Histogram bins of the margins, one edge on the cut so no bar straddles it."""
    lo, hi = float(scores.min()), float(scores.max())
    if threshold is not None and math.isfinite(threshold):  # a cut outside the margins is still drawn
        lo, hi = min(lo, threshold), max(hi, threshold)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.01, hi + 0.01
    width = float(np.diff(np.histogram_bin_edges(scores, bins="auto")[:2])[0]) if len(scores) > 1 else (hi - lo)
    width = min(max(width, (hi - lo) / 80), (hi - lo) / 15)
    anchor = threshold if threshold is not None and lo <= threshold <= hi else lo
    first, last = math.floor((lo - anchor) / width), math.ceil((hi - anchor) / width)
    if last == first:
        last += 1
    return anchor + width * np.arange(first, last + 1)


def _margin_chart(data: ReportData) -> str:
    scores = data.scores[np.isfinite(data.scores)]
    if len(scores) == 0:
        return '<p class="empty">No candidate pairs.</p>'
    edges = _margin_edges(scores, data.threshold)
    counts, _ = np.histogram(scores, bins=edges)
    width = float(edges[1] - edges[0])
    curve = None
    if data.null_curve is not None:
        x, density = data.null_curve
        curve = (x, density * width)  # expected candidates per bin
    kept_max = counts[edges[:-1] >= data.threshold].max(initial=0) if data.threshold is not None else counts.max()
    top = max(int(counts.max()), 1)
    log = top > 25 * max(int(kept_max), 1)  # a huge non-translation mode would flatten the translations
    if curve is not None:
        top = max(top, min(float(curve[1].max()), 2.0 * top))
    x0, x1 = float(edges[0]), float(edges[-1])

    def sx(v: float) -> float:
        return _L + (v - x0) / (x1 - x0) * (_W - _L - _R)

    def sy(c: float) -> float:
        frac = math.log10(1 + c) / math.log10(1 + top) if log else c / top
        return _H - _B - min(frac, 1.0) * (_H - _B - _T)

    out = [f'<svg id="margin-chart" class="chart" viewBox="0 0 {_W} {_H}" role="img" '
           'aria-label="Histogram of candidate margins" xmlns="http://www.w3.org/2000/svg">']
    yticks = [10 ** k for k in range(0, int(math.log10(top)) + 1)] if log else _nice_ticks(0, top, 5, integer=True)
    out += _y_grid(yticks, sy, "candidates per bin" + (" (log scale)" if log else ""))
    for i, c in enumerate(counts.tolist()):
        if c == 0:
            continue
        left, right = sx(edges[i]), sx(edges[i + 1])
        kept = data.threshold is None or edges[i] >= data.threshold - 1e-12
        out.append(f'<rect class="bar {"kept" if kept else "dropped"}" x="{left + 0.5:.1f}" y="{sy(c):.1f}" '
                   f'width="{max(right - left - 1, 0.8):.1f}" height="{_H - _B - sy(c):.1f}">'
                   f"<title>{edges[i]:.4f} – {edges[i + 1]:.4f}: {c:,} candidate{'s' if c != 1 else ''}</title></rect>")
    out += _x_axis(_nice_ticks(x0, x1, 10), sx, "margin")
    if curve is not None:  # on a log scale, less than half a candidate per bin is left out (it would trail the axis)
        pts = " ".join(f"{sx(float(a)):.1f},{sy(float(b)):.1f}" for a, b in zip(*curve)
                       if x0 <= a <= x1 and (not log or b >= 0.5))
        out.append(f'<polyline id="null-curve" class="null" points="{pts}"><title>estimated non-translations'
                   "</title></polyline>")
    if data.threshold is not None and x0 <= data.threshold <= x1:
        cx = sx(data.threshold)
        anchor = "end" if cx > _W - 160 else "start"
        dx = -6 if anchor == "end" else 6
        out.append(f'<line id="cut-marker" class="cut" x1="{cx:.1f}" x2="{cx:.1f}" y1="{_T - 8}" y2="{_H - _B}">'
                   f"<title>{_esc(data.threshold_note)}</title></line>")
        out.append(f'<text class="cut-label" x="{cx + dx:.1f}" y="{_T - 12}" text-anchor="{anchor}">'
                   f"cut {data.threshold:.4g}</text>")
    out.append("</svg>")
    return _legend(data.threshold is not None, curve is not None) + "\n".join(out)


def _y_grid(ticks: Sequence[float], sy, label: str) -> list[str]:
    out = []
    for t in ticks:
        y = sy(t)
        out.append(f'<line class="grid" x1="{_L}" x2="{_W - _R}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{_L - 8}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t) if t < 1e4 else f"{t:.0e}"}</text>')
    out.append(f'<text class="axis-label" transform="translate(14 {(_T + _H - _B) / 2:.0f}) rotate(-90)" '
               f'text-anchor="middle">{_esc(label)}</text>')
    return out


def _x_axis(ticks: Sequence[float], sx, label: str, names: Sequence[str] | None = None) -> list[str]:
    out = [f'<line class="axis" x1="{_L}" x2="{_W - _R}" y1="{_H - _B}" y2="{_H - _B}"/>']
    for i, t in enumerate(ticks):
        x = sx(t)
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{_H - _B}" y2="{_H - _B + 5}"/>')
        text = names[i] if names is not None else _fmt(t)
        out.append(f'<text class="tick" x="{x:.1f}" y="{_H - _B + 19}" text-anchor="middle">{_esc(text)}</text>')
    out.append(f'<text class="axis-label" x="{(_L + _W - _R) / 2:.0f}" y="{_H - 6}" text-anchor="middle">{_esc(label)}</text>')
    return out


def _legend(cut: bool, curve: bool) -> str:
    """The margin chart's key, as a row above it."""
    items = [('<rect class="bar kept" x="1" y="2" width="12" height="10" rx="2"/>', "at or above the cut" if cut else "kept")]
    if cut:
        items.append(('<rect class="bar dropped" x="1" y="2" width="12" height="10" rx="2"/>', "below the cut"))
        items.append(('<line class="cut" x1="7" x2="7" y1="0" y2="14"/>', "cut"))
    if curve:
        items.append(('<line class="null" x1="0" x2="14" y1="7" y2="7"/>', "estimated non-translations"))
    return '<div class="legend-row">' + "".join(
        f'<span><svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">{mark}</svg>{text}</span>'
        for mark, text in items) + "</div>"


def _ratio_chart(ratios: np.ndarray) -> str:
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    if len(ratios) == 0:
        return '<p class="empty">No written pairs with text on both sides.</p>'
    logs = np.clip(np.log2(ratios), -2, 2)
    edges = np.linspace(-2, 2, 33)
    counts, _ = np.histogram(logs, bins=edges)
    top = max(int(counts.max()), 1) * 1.08
    w, h = 480, 260
    L, R, T, B = 50, 14, 30, 46

    def sx(v: float) -> float:
        return L + (v + 2) / 4 * (w - L - R)

    def sy(c: float) -> float:
        return h - B - c / top * (h - B - T)

    out = [f'<svg id="ratio-chart" class="chart" viewBox="0 0 {w} {h}" role="img" '
           'aria-label="Histogram of length ratios" xmlns="http://www.w3.org/2000/svg">']
    for t in _nice_ticks(0, top, 4, integer=True):
        out.append(f'<line class="grid" x1="{L}" x2="{w - R}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>')
        out.append(f'<text class="tick" x="{L - 8}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for i, c in enumerate(counts.tolist()):
        if c:
            left, right = sx(edges[i]), sx(edges[i + 1])
            tip = f'{2 ** edges[i]:.2f} – {2 ** edges[i + 1]:.2f}: {c} pair{"s" if c != 1 else ""}'
            out.append(f'<rect class="bar ratio" x="{left + 0.5:.1f}" y="{sy(c):.1f}" width="{right - left - 1:.1f}" '
                       f'height="{h - B - sy(c):.1f}"><title>{tip}</title></rect>')
    out.append(f'<line class="axis" x1="{L}" x2="{w - R}" y1="{h - B}" y2="{h - B}"/>')
    for t, name in zip((-2, -1, 0, 1, 2), ("≤ ¼", "½", "1", "2", "≥ 4")):
        out.append(f'<line class="axis" x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{h - B}" y2="{h - B + 5}"/>')
        out.append(f'<text class="tick" x="{sx(t):.1f}" y="{h - B + 19}" text-anchor="middle">{name}</text>')
    med = float(np.median(ratios))
    mx = sx(float(np.clip(math.log2(med), -2, 2)))
    out.append(f'<line class="median" x1="{mx:.1f}" x2="{mx:.1f}" y1="{T - 6}" y2="{h - B}"/>')
    out.append(f'<text class="legend" x="{mx:.1f}" y="{T - 16}" text-anchor="middle">median {med:.2f}</text>')
    out.append(f'<text class="axis-label" x="{(L + w - R) / 2:.0f}" y="{h - 6}" text-anchor="middle">'
               "source characters / target characters (log scale)</text>")
    out.append("</svg>")
    inside = float(np.mean((ratios >= 0.5) & (ratios <= 2)))
    return "\n".join(out) + (f'<p class="note">{len(ratios):,} pairs; {100 * inside:.0f}% within ½–2; '
                             f"median {med:.2f}.</p>")


def _pair_table(table_id: str, pairs: list[ReportPair], threshold: float | None, above: bool) -> str:
    if not pairs:
        what = "No candidate pairs below the cut." if not above else "No pairs at or above the cut."
        return f'<table id="{table_id}" class="pairs empty-table"><tbody><tr><td class="empty">{what}</td></tr></tbody></table>'
    rows = []
    for p in pairs:
        badge = ' <span class="badge">removed by a filter</span>' if p.filtered else ""
        delta = f'<span class="delta">{p.score - threshold:+.3f}</span>' if threshold is not None else ""
        cells = []
        for text, ident in ((p.src, p.src_id), (p.tgt, p.tgt_id)):
            body = _esc(text) if text is not None else '<span class="muted">(no text: embeddings input)</span>'
            cells.append(f'<td class="text"><div class="cell"><span class="ln">{_esc(ident)}</span>'
                         f'<span dir="auto">{body}</span></div></td>')
        rows.append(f'<tr class="{"kept" if above else "dropped"}{" filtered" if p.filtered else ""}">'
                    f'<td class="score">{p.score:.4f}{delta}{badge}</td>{"".join(cells)}</tr>')
    return (f'<table id="{table_id}" class="pairs"><thead><tr><th class="score">margin</th><th>source</th>'
            f'<th>target</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _languages(sides: list[SideLanguages]) -> str:
    if not sides or not any(s.sampled for s in sides):
        return '<p class="empty">No text to look at (embeddings input).</p>'
    blocks = []
    for side in sides:
        if not side.sampled:
            blocks.append(f'<div class="side"><h3>{side.label}</h3><p class="empty">embeddings input</p></div>')
            continue
        scripts = "".join(_share_row(name, share) for name, share in list(side.scripts.items())[:5]) \
            or '<tr><td colspan="3" class="muted">no letters</td></tr>'
        if side.languages is None:
            langs = '<p class="muted small">Language identification needs py3langid (reinstall mineshaft).</p>'
        else:
            langs = ('<table class="shares"><thead><tr><th colspan="3">languages (share of lines)</th></tr></thead><tbody>'
                     + "".join(_share_row(name, share, side.known) for name, share in list(side.languages.items())[:5])
                     + "</tbody></table>")
        blocks.append(f'<div class="side"><h3>{side.label} <span class="sub">{side.sampled:,} lines sampled</span></h3>'
                      '<table class="shares"><thead><tr><th colspan="3">scripts (share of letters)</th></tr></thead>'
                      f"<tbody>{scripts}</tbody></table>{langs}</div>")
    note = ""
    known = next((s.known for s in sides if s.known), None)
    if known:
        note = f'<p class="note">The encoder knows {len(known)} languages; unknown ones are marked <span class="warn">!</span>.</p>'
    return '<div class="sides">' + "".join(blocks) + "</div>" + note


def _share_row(name: str, share: float, known: list[str] | None = None) -> str:
    flag = ""
    if known is not None and normalize_language(name) not in {normalize_language(k) for k in known}:
        flag = ' <span class="warn" title="not one of the encoder\'s languages">!</span>'
    return (f'<tr><td class="name">{_esc(name)}{flag}</td><td class="pct">{100 * share:.1f}%</td>'
            f'<td class="meter"><span style="width:{100 * share:.1f}%"></span></td></tr>')


#: the page's style sheet (mineshaft/data/report.css), inlined so the page stands alone
_CSS = "\n" + (DATA_DIR / "report.css").read_text(encoding="utf-8")

__all__ = ["ReportData", "ReportPair", "SideLanguages", "render_html", "report_from_result", "write_report"]
