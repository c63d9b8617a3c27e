"""The report as CSV, as SVG charts drawn here, and as a PDF (WeasyPrint)."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from datetime import timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from reports.intervals import INTERVAL_LABELS, Interval
from reports.report import LAST_MINUTE, Report, aggregate_dict, finding_dict
from reports.stats import Aggregate

CSV_TABLES = ("aggregates", "findings", "measurements")
MAX_FINDINGS_IN_PDF = 60


# --- CSV -----------------------------------------------------------------------


def report_csv(report: Report, table: str = "aggregates") -> str:
    """One table of the report as CSV: the aggregates (one row per group and interval, a share and
    a verdict per target), the findings, or the per-incident and per-unit measurements."""
    out = io.StringIO()
    if table == "aggregates":
        labels = [t.label for t in report.rules.targets]
        writer = csv.writer(out)
        writer.writerow(
            ["dimension", "key", "level", "interval", "count", "median_s", "p90_s", "p95_s"]
            + [f"{label} share" for label in labels]
            + [f"{label} compliant" for label in labels]
        )
        for a in report.aggregates:
            by_label = {c.target.label: c for c in a.compliance}
            shares = [f"{by_label[x].share:.4f}" if x in by_label else "" for x in labels]
            verdicts = [("yes" if by_label[x].compliant else "no") if x in by_label else "" for x in labels]
            d = aggregate_dict(a)
            fixed = [a.dimension, a.key, a.level, a.interval, a.count, d["median_s"], d["p90_s"], d["p95_s"]]
            writer.writerow([*fixed, *shares, *verdicts])
    elif table == "findings":
        fields = ["level", "interval", "problem", "incident_id", "number", "unit_id", "callsign", "detail"]
        dict_writer = csv.DictWriter(out, fieldnames=fields)
        dict_writer.writeheader()
        for f in report.findings:
            dict_writer.writerow(finding_dict(f))
    elif table == "measurements":
        fields = ["incident_id", "number", "type", "district", "level", "unit", "agency", *(str(i) for i in Interval)]
        dict_writer = csv.DictWriter(out, fieldnames=fields)
        dict_writer.writeheader()
        for row in report.measurements:
            dict_writer.writerow(row)
    else:
        raise ValueError(f"no table {table!r}: one of {', '.join(CSV_TABLES)}")
    return out.getvalue()


# --- SVG charts ------------------------------------------------------------------

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 260, 56, 40, 16, 16


def _svg(body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'font-family="DejaVu Sans, sans-serif" font-size="10"><title>{escape(title)}</title>'
        f'<rect width="{W}" height="{H}" fill="white"/>{body}</svg>'
    )


def _axes(y_max: float, y_label: str, ticks: int = 4) -> str:
    mid = PAD_T + (H - PAD_B - PAD_T) / 2
    parts = [
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#333"/>',
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#333"/>',
        f'<text x="12" y="{mid}" transform="rotate(-90 12 {mid})" text-anchor="middle">{escape(y_label)}</text>',
    ]
    for i in range(ticks + 1):
        value = y_max * i / ticks
        y = H - PAD_B - (H - PAD_B - PAD_T) * i / ticks
        parts.append(f'<line x1="{PAD_L - 3}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{PAD_L - 5}" y="{y + 3:.1f}" text-anchor="end">{value:g}</text>')
    return "".join(parts)


def _nice(value: float) -> float:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if value <= step * 4:
            return float(step * 4)
    return float(value)


def distribution_svg(report: Report, interval: Interval = Interval.RESPONSE) -> str:
    """Bars: how many incidents took each whole minute of `interval` (the last bar: that long or longer)."""
    counts = {int(a.key): a.count for a in report.select("minute") if a.interval == interval}
    bars = [counts.get(m, 0) for m in range(LAST_MINUTE + 1)]
    y_max = _nice(max(bars) or 1)
    width = (W - PAD_L - PAD_R) / len(bars)
    parts = [_axes(y_max, "incidents")]
    for m, n in enumerate(bars):
        h = (H - PAD_B - PAD_T) * n / y_max
        x = PAD_L + m * width
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{H - PAD_B - h:.1f}" width="{width - 2:.1f}" height="{h:.1f}" fill="#c0392b"/>'
        )
        label = f"{m}+" if m == LAST_MINUTE else str(m)
        parts.append(f'<text x="{x + width / 2:.1f}" y="{H - PAD_B + 12}" text-anchor="middle">{label}</text>')
    parts.append(
        f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle">minutes, {escape(INTERVAL_LABELS[interval])}</text>'
    )
    return _svg("".join(parts), f"Distribution: {INTERVAL_LABELS[interval]}")


def compliance_by_district_svg(report: Report, interval: Interval = Interval.TRAVEL) -> str:
    """Bars: per district, the share of `interval`s within its first target, with the required share as a line."""
    rows = [a for a in report.select("district") if a.interval == interval and a.compliance]
    rows.sort(key=lambda a: a.key)
    parts = [_axes(100, "% within target")]
    if not rows:
        parts.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no {interval} measured</text>')
        return _svg("".join(parts), "Compliance by district")
    target = rows[0].compliance[0].target
    width = (W - PAD_L - PAD_R) / len(rows)
    for i, a in enumerate(rows):
        share = a.compliance[0].share * 100
        h = (H - PAD_B - PAD_T) * share / 100
        x = PAD_L + i * width
        colour = "#27ae60" if a.compliance[0].compliant else "#e67e22"
        parts.append(
            f'<rect x="{x + 3:.1f}" y="{H - PAD_B - h:.1f}" width="{max(width - 6, 1):.1f}" '
            f'height="{h:.1f}" fill="{colour}"/>'
            f'<text x="{x + width / 2:.1f}" y="{H - PAD_B - h - 3:.1f}" text-anchor="middle">{share:.0f}%</text>'
            f'<text x="{x + width / 2:.1f}" y="{H - PAD_B + 12}" text-anchor="middle">{escape(a.key[:14])}</text>'
        )
    y = H - PAD_B - (H - PAD_B - PAD_T) * target.fraction
    parts.append(
        f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#2c3e50" stroke-dasharray="4 3"/>'
        f'<text x="{W - PAD_R}" y="{y - 3:.1f}" text-anchor="end">required {target.fraction:.0%}</text>'
        f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle">{escape(target.label)}</text>'
    )
    return _svg("".join(parts), "Compliance by district")


def trend_svg(report: Report, interval: Interval = Interval.RESPONSE) -> str:
    """Lines: the median and the 90th percentile of `interval` per day."""
    rows = sorted((a for a in report.select("day") if a.interval == interval), key=lambda a: a.key)
    parts = []
    if not rows:
        parts.append(_axes(1, "seconds"))
        parts.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no {interval} measured</text>')
        return _svg("".join(parts), "Trend by day")
    y_max = _nice(max(a.p90_s for a in rows) or 1)
    parts.append(_axes(y_max, "seconds"))
    step = (W - PAD_L - PAD_R) / max(len(rows) - 1, 1)

    def line(values: Sequence[float], colour: str) -> str:
        points = " ".join(
            f"{PAD_L + i * step:.1f},{H - PAD_B - (H - PAD_B - PAD_T) * v / y_max:.1f}" for i, v in enumerate(values)
        )
        dots = (
            "".join(
                f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2" fill="{colour}"/>' for p in points.split()
            )
            if len(values) <= 62
            else ""
        )
        return f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>{dots}'

    parts.append(line([a.p90_s for a in rows], "#c0392b"))
    parts.append(line([a.median_s for a in rows], "#2980b9"))
    every = max(1, len(rows) // 8)
    for i, a in enumerate(rows):
        if i % every == 0:
            parts.append(
                f'<text x="{PAD_L + i * step:.1f}" y="{H - PAD_B + 12}" text-anchor="middle">{a.key[5:]}</text>'
            )
    parts.append(
        f'<text x="{W - PAD_R}" y="{PAD_T + 10}" text-anchor="end" fill="#c0392b">90th percentile</text>'
        f'<text x="{W - PAD_R}" y="{PAD_T + 22}" text-anchor="end" fill="#2980b9">median</text>'
        f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle">{escape(INTERVAL_LABELS[interval])}, per day (WITA)</text>'
    )
    return _svg("".join(parts), "Trend by day")


def _img(svg: str, alt: str) -> str:
    data = base64.b64encode(svg.encode()).decode()
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/svg+xml;base64,{data}">'


# --- HTML and PDF ---------------------------------------------------------------

CSS = """
@page { size: A4; margin: 16mm 14mm;
        @bottom-right { content: "page " counter(page) " of " counter(pages); font-size: 8pt; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #222; }
h1 { font-size: 18pt; margin: 0 0 4mm; } h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin-bottom: 3mm; }
th, td { border: 0.5px solid #bbb; padding: 1mm 1.5mm; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eee; } .ok { color: #1e8449; } .fail { color: #b03a2e; font-weight: bold; }
.cover { page-break-after: always; } .chart { width: 100%; margin: 2mm 0; }
.note { color: #555; font-size: 8pt; } .n { color: #777; font-size: 7pt; }
table.pivot { font-size: 7.5pt; } td.marks { text-align: left; font-size: 7pt; }
"""


def _s(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _compliance_cells(a: Aggregate) -> str:
    if not a.compliance:
        return "—"
    return "<br>".join(
        f'<span class="{"ok" if c.compliant else "fail"}">{c.share:.1%} ≤ {c.target.seconds:g} s'
        f"{' ' + c.target.category if c.target.category else ''} (need {c.target.fraction:.0%})</span>"
        for c in a.compliance
    )


def _table(rows: Sequence[Aggregate], first: str, with_interval: bool = True) -> str:
    """Aggregates as rows; without `with_interval` the first column names the interval instead of the key."""
    head = (
        f"<tr><th>{escape(first)}</th>{'<th>interval</th>' if with_interval else ''}<th>n</th>"
        "<th>median s</th><th>90th s</th><th>95th s</th><th>compliance</th></tr>"
    )
    body = "".join(
        f"<tr><td>{escape(a.key if with_interval else INTERVAL_LABELS[Interval(a.interval)])}</td>"
        f"{f'<td>{escape(a.interval)}</td>' if with_interval else ''}<td>{a.count:,}</td>"
        f"<td>{_s(a.median_s)}</td><td>{_s(a.p90_s)}</td><td>{_s(a.p95_s)}</td><td>{_compliance_cells(a)}</td></tr>"
        for a in rows
    )
    return f"<table>{head}{body}</table>"


def _dimension_table(report: Report, dimension: str, title: str, level: str = "incident") -> str:
    """One row per key (district, unit, …), one column per interval: its 90th percentile over n
    intervals; the last column, the share within each target (green met, red missed)."""
    rows = report.select(dimension, level)
    if not rows:
        return ""
    intervals = [i for i in Interval if any(a.interval == i for a in rows)]
    by_key: dict[str, dict[str, Aggregate]] = {}
    for a in rows:
        by_key.setdefault(a.key, {})[a.interval] = a
    head = (
        f"<tr><th>{escape(dimension)}</th>"
        + "".join(f"<th>{escape(str(i).replace('_', ' '))}<br>p90 s (n)</th>" for i in intervals)
        + "<th>within target</th></tr>"
    )
    body = []
    for key in sorted(by_key):
        cells = []
        for interval in intervals:
            got = by_key[key].get(interval)
            cells.append(f"<td>{_s(got.p90_s)} <span class='n'>({got.count:,})</span></td>" if got else "<td>—</td>")
        marks = " ".join(
            f'<span class="{"ok" if c.compliant else "fail"}">{escape(a.interval)}'
            f"{' ' + c.target.category if c.target.category else ''} ≤{c.target.seconds:g}s {c.share:.0%}</span>"
            for a in by_key[key].values()
            for c in a.compliance
        )
        body.append(f"<tr><td>{escape(key)}</td>{''.join(cells)}<td class='marks'>{marks or '—'}</td></tr>")
    return f"<h2>{escape(title)}</h2><table class='pivot'>{head}{''.join(body)}</table>"


def report_html(report: Report) -> str:
    zone = ZoneInfo(report.timezone)
    start = report.start.astimezone(zone).strftime("%d %b %Y %H:%M")
    end = report.end.astimezone(zone).strftime("%d %b %Y %H:%M")
    overall = [a for a in report.select("all") if a.level == "incident"]
    overall.sort(key=lambda a: list(Interval).index(Interval(a.interval)))
    verdicts = []
    for a in overall:
        for c in a.compliance:
            mark = "meets" if c.compliant else "misses"
            verdicts.append(
                f'<li class="{"ok" if c.compliant else "fail"}">{escape(INTERVAL_LABELS[Interval(a.interval)])}: '
                f"{c.share:.1%} within {c.target.seconds:g} s"
                f"{' (' + c.target.category + ')' if c.target.category else ''}"
                f" — {mark} the {c.target.fraction:.0%} target</li>"
            )
    counts: dict[str, int] = {}
    for f in report.findings:
        key = f"{f.level} {f.interval}: {f.problem}"
        counts[key] = counts.get(key, 0) + 1
    findings_rows = "".join(
        f"<tr><td>{escape(f.number)}</td><td>{escape(f.callsign or '')}</td><td>{escape(str(f.interval))}</td>"
        f"<td>{escape(str(f.problem))}</td><td style='text-align:left'>{escape(f.detail)}</td></tr>"
        for f in report.findings[:MAX_FINDINGS_IN_PDF]
    )
    findings = (
        "<p>None: every stamp present and in order.</p>"
        if not report.findings
        else "<ul>"
        + "".join(f"<li>{escape(k)}: {n:,}</li>" for k, n in sorted(counts.items()))
        + "</ul><table><tr><th>incident</th><th>unit</th><th>interval</th><th>problem</th><th>detail</th></tr>"
        + findings_rows
        + "</table>"
        + (
            f'<p class="note">First {MAX_FINDINGS_IN_PDF} of {len(report.findings):,}; all are in the findings CSV.</p>'
            if len(report.findings) > MAX_FINDINGS_IN_PDF
            else ""
        )
    )
    summary = (
        _table(overall, "interval (all incidents)", with_interval=False)
        if overall
        else "<p>No interval measured in this period.</p>"
    )
    generated = report.generated_at.astimezone(zone).strftime("%d %b %Y %H:%M")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Response times {escape(start)} – {escape(end)}</title><style>{CSS}</style></head><body>
<section class="cover">
<h1>Response times</h1>
<p><b>{escape(start)} – {escape(end)}</b> ({escape(report.timezone)}) · {report.incidents:,} incidents ·
generated {escape(generated)}</p>
<h2>Summary</h2>
{summary}
<h2>Against the targets</h2><ul>{"".join(verdicts) or "<li>no target applies</li>"}</ul>
<h2>Data quality</h2><p>{len(report.findings):,} interval(s) could not be measured (missing or out-of-order stamps);
they are listed at the end, never counted as zero.</p>
<p class="note">Percentiles are nearest-rank (the value at rank ⌈p·N/100⌉ of the N sorted values), as NFPA
fractile reports use. Turnout and travel of an incident are its first-arriving unit's. Targets: NFPA 1221 (answering,
processing) and NFPA 1710 (turnout, travel) unless configured otherwise.</p>
</section>
<h2>Charts</h2>
{_img(distribution_svg(report), "distribution of total response times")}
{_img(compliance_by_district_svg(report), "travel compliance by district")}
{_img(trend_svg(report), "response time trend by day")}
{_dimension_table(report, "district", "By district")}
{_dimension_table(report, "type", "By incident type")}
{_dimension_table(report, "shift", "By shift (WITA)")}
{_dimension_table(report, "month", "By month")}
{_dimension_table(report, "agency", "By agency (all responding units)", "unit")}
{_dimension_table(report, "unit", "By unit (all responses)", "unit")}
{_dimension_table(report, "day", "By day") if report.end - report.start <= timedelta(days=62) else ""}
<h2>Data-quality findings</h2>{findings}
</body></html>"""


def report_pdf(report: Report) -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=report_html(report)).write_pdf()
    return pdf


def report_json_bytes(doc: dict[str, Any]) -> bytes:
    import json

    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
