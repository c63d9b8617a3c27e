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

from reports.intervals import Interval
from reports.report import LAST_MINUTE, Report, aggregate_dict, finding_dict
from reports.stats import Aggregate
from reports.wording import (
    DEFAULT_LANGUAGE,
    SHORT_INTERVALS,
    csv_heading,
    interval_label,
    language,
    local_datetime,
    words,
)

CSV_TABLES = ("aggregates", "findings", "measurements")
MAX_FINDINGS_IN_PDF = 60


# --- CSV -----------------------------------------------------------------------


def report_csv(report: Report, table: str = "aggregates", lang: str = DEFAULT_LANGUAGE) -> str:
    """One table of the report as CSV: the aggregates (one row per group and interval, a share and
    a verdict per target), the findings, or the per-incident and per-unit measurements. The header
    row is in `lang` (the rows' values are data and stay as they are)."""
    out = io.StringIO()
    w = words(lang)
    if table == "aggregates":
        labels = [t.label for t in report.rules.targets]
        writer = csv.writer(out)
        fixed_columns = ["dimension", "key", "level", "interval", "count", "median_s", "p90_s", "p95_s"]
        writer.writerow(
            [csv_heading(c, lang) for c in fixed_columns]
            + [f"{label} {w['share']}" for label in labels]
            + [f"{label} {w['compliant']}" for label in labels]
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
        dict_writer.writerow({c: csv_heading(c, lang) for c in fields})
        for f in report.findings:
            dict_writer.writerow(finding_dict(f))
    elif table == "measurements":
        fields = ["incident_id", "number", "type", "district", "level", "unit", "agency", *(str(i) for i in Interval)]
        dict_writer = csv.DictWriter(out, fieldnames=fields)
        dict_writer.writerow({c: csv_heading(c, lang) for c in fields})
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


def distribution_svg(report: Report, interval: Interval = Interval.RESPONSE, lang: str = DEFAULT_LANGUAGE) -> str:
    """Bars: how many incidents took each whole minute of `interval` (the last bar: that long or longer)."""
    counts = {int(a.key): a.count for a in report.select("minute") if a.interval == interval}
    bars = [counts.get(m, 0) for m in range(LAST_MINUTE + 1)]
    y_max = _nice(max(bars) or 1)
    width = (W - PAD_L - PAD_R) / len(bars)
    w, label_of = words(lang), interval_label(interval, lang)
    parts = [_axes(y_max, w["chart_incidents"])]
    for m, n in enumerate(bars):
        h = (H - PAD_B - PAD_T) * n / y_max
        x = PAD_L + m * width
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{H - PAD_B - h:.1f}" width="{width - 2:.1f}" height="{h:.1f}" fill="#c0392b"/>'
        )
        label = f"{m}+" if m == LAST_MINUTE else str(m)
        parts.append(f'<text x="{x + width / 2:.1f}" y="{H - PAD_B + 12}" text-anchor="middle">{label}</text>')
    parts.append(
        f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle">'
        f"{escape(w['chart_minutes'].format(interval=label_of))}</text>"
    )
    return _svg("".join(parts), w["chart_distribution"].format(interval=label_of))


def compliance_by_district_svg(
    report: Report, interval: Interval = Interval.TRAVEL, lang: str = DEFAULT_LANGUAGE
) -> str:
    """Bars: per district, the share of `interval`s within its first target, with the required share as a line."""
    rows = [a for a in report.select("district") if a.interval == interval and a.compliance]
    rows.sort(key=lambda a: a.key)
    w = words(lang)
    parts = [_axes(100, w["chart_within"])]
    if not rows:
        none = escape(w["chart_none"].format(interval=interval_label(interval, lang)))
        parts.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">{none}</text>')
        return _svg("".join(parts), w["chart_compliance"])
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
        f'<text x="{W - PAD_R}" y="{y - 3:.1f}" text-anchor="end">'
        f"{escape(w['chart_required'].format(f=f'{target.fraction:.0%}'))}</text>"
        f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle">{escape(target.label)}</text>'
    )
    return _svg("".join(parts), w["chart_compliance"])


def trend_svg(report: Report, interval: Interval = Interval.RESPONSE, lang: str = DEFAULT_LANGUAGE) -> str:
    """Lines: the median and the 90th percentile of `interval` per day."""
    rows = sorted((a for a in report.select("day") if a.interval == interval), key=lambda a: a.key)
    w, label_of = words(lang), interval_label(interval, lang)
    parts = []
    if not rows:
        parts.append(_axes(1, w["chart_seconds"]))
        none = escape(w["chart_none"].format(interval=label_of))
        parts.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">{none}</text>')
        return _svg("".join(parts), w["chart_trend"])
    y_max = _nice(max(a.p90_s for a in rows) or 1)
    parts.append(_axes(y_max, w["chart_seconds"]))
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
        f'<text x="{W - PAD_R}" y="{PAD_T + 10}" text-anchor="end" fill="#c0392b">{escape(w["chart_p90"])}</text>'
        f'<text x="{W - PAD_R}" y="{PAD_T + 22}" text-anchor="end" fill="#2980b9">{escape(w["chart_median"])}</text>'
        f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle">'
        f"{escape(w['chart_per_day'].format(interval=label_of))}</text>"
    )
    return _svg("".join(parts), w["chart_trend"])


def _img(svg: str, alt: str) -> str:
    data = base64.b64encode(svg.encode()).decode()
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/svg+xml;base64,{data}">'


# --- HTML and PDF ---------------------------------------------------------------

CSS = """
@page { size: A4; margin: 16mm 14mm;
        @bottom-right { content: "%(page)s; font-size: 8pt; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #222; }
h1 { font-size: 18pt; margin: 0 0 4mm; } h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%%; margin-bottom: 3mm; }
th, td { border: 0.5px solid #bbb; padding: 1mm 1.5mm; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eee; } .ok { color: #1e8449; } .fail { color: #b03a2e; font-weight: bold; }
.cover { page-break-after: always; } .chart { width: 100%%; margin: 2mm 0; }
.note { color: #555; font-size: 8pt; } .n { color: #777; font-size: 7pt; }
table.pivot { font-size: 7.5pt; } td.marks { text-align: left; font-size: 7pt; }
"""


def _s(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _compliance_cells(a: Aggregate, w: dict[str, str]) -> str:
    if not a.compliance:
        return "—"
    return "<br>".join(
        f'<span class="{"ok" if c.compliant else "fail"}">{c.share:.1%} ≤ {c.target.seconds:g} s'
        f"{' ' + c.target.category if c.target.category else ''} ({escape(w['need'])} {c.target.fraction:.0%})</span>"
        for c in a.compliance
    )


def _table(rows: Sequence[Aggregate], first: str, lang: str, with_interval: bool = True) -> str:
    """Aggregates as rows; without `with_interval` the first column names the interval instead of the key."""
    w = words(lang)
    interval_head = f"<th>{escape(w['interval'])}</th>" if with_interval else ""
    head = (
        f"<tr><th>{escape(first)}</th>{interval_head}"
        f"<th>{escape(w['n'])}</th><th>{escape(w['median_s'])}</th><th>{escape(w['p90_s'])}</th>"
        f"<th>{escape(w['p95_s'])}</th><th>{escape(w['compliance'])}</th></tr>"
    )
    body = "".join(
        f"<tr><td>{escape(a.key if with_interval else interval_label(a.interval, lang))}</td>"
        f"{f'<td>{escape(a.interval)}</td>' if with_interval else ''}<td>{a.count:,}</td>"
        f"<td>{_s(a.median_s)}</td><td>{_s(a.p90_s)}</td><td>{_s(a.p95_s)}</td><td>{_compliance_cells(a, w)}</td></tr>"
        for a in rows
    )
    return f"<table>{head}{body}</table>"


def _dimension_table(report: Report, dimension: str, title: str, lang: str, level: str = "incident") -> str:
    """One row per key (district, unit, …), one column per interval: its 90th percentile over n
    intervals; the last column, the share within each target (green met, red missed)."""
    rows = report.select(dimension, level)
    if not rows:
        return ""
    w, short = words(lang), SHORT_INTERVALS[language(lang)]
    intervals = [i for i in Interval if any(a.interval == i for a in rows)]
    by_key: dict[str, dict[str, Aggregate]] = {}
    for a in rows:
        by_key.setdefault(a.key, {})[a.interval] = a
    head = (
        f"<tr><th>{escape(w.get(dimension, dimension))}</th>"
        + "".join(f"<th>{escape(short[i])}<br>{escape(w['p90_n'])}</th>" for i in intervals)
        + f"<th>{escape(w['within_target'])}</th></tr>"
    )
    body = []
    for key in sorted(by_key):
        cells = []
        for interval in intervals:
            got = by_key[key].get(interval)
            cells.append(f"<td>{_s(got.p90_s)} <span class='n'>({got.count:,})</span></td>" if got else "<td>—</td>")
        marks = " ".join(
            f'<span class="{"ok" if c.compliant else "fail"}">{escape(short[Interval(a.interval)])}'
            f"{' ' + c.target.category if c.target.category else ''} ≤{c.target.seconds:g}s {c.share:.0%}</span>"
            for a in by_key[key].values()
            for c in a.compliance
        )
        body.append(f"<tr><td>{escape(key)}</td>{''.join(cells)}<td class='marks'>{marks or '—'}</td></tr>")
    return f"<h2>{escape(title)}</h2><table class='pivot'>{head}{''.join(body)}</table>"


def report_charts(report: Report, lang: str = DEFAULT_LANGUAGE) -> list[tuple[str, str]]:
    """The report's charts as (alt text, SVG): the PDF embeds them and the manager's page shows them."""
    w = words(lang)
    return [
        (w["alt_distribution"], distribution_svg(report, lang=lang)),
        (w["alt_compliance"], compliance_by_district_svg(report, lang=lang)),
        (w["alt_trend"], trend_svg(report, lang=lang)),
    ]


def report_html(report: Report, lang: str = DEFAULT_LANGUAGE) -> str:
    """The report as one HTML document (the PDF's source), its words in `lang`."""
    lang = language(lang)
    w = words(lang)
    zone = ZoneInfo(report.timezone)
    start = local_datetime(report.start.astimezone(zone), lang)
    end = local_datetime(report.end.astimezone(zone), lang)
    overall = [a for a in report.select("all") if a.level == "incident"]
    overall.sort(key=lambda a: list(Interval).index(Interval(a.interval)))
    verdicts = []
    for a in overall:
        for c in a.compliance:
            fraction = f"{c.target.fraction:.0%}"
            mark = w["meets" if c.compliant else "misses"].format(f=fraction)
            within = w["within"].format(share=f"{c.share:.1%}", s=f"{c.target.seconds:g}")
            verdicts.append(
                f'<li class="{"ok" if c.compliant else "fail"}">{escape(interval_label(a.interval, lang))}: '
                f"{escape(within)}"
                f"{' (' + escape(c.target.category) + ')' if c.target.category else ''}"
                f" — {escape(mark)}</li>"
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
    first_findings = w["first_findings"].format(shown=MAX_FINDINGS_IN_PDF, n=f"{len(report.findings):,}")
    findings = (
        f"<p>{escape(w['no_findings'])}</p>"
        if not report.findings
        else "<ul>"
        + "".join(f"<li>{escape(k)}: {n:,}</li>" for k, n in sorted(counts.items()))
        + "</ul><table><tr>"
        + "".join(f"<th>{escape(w[h])}</th>" for h in ("incident", "unit", "interval", "problem", "detail"))
        + "</tr>"
        + findings_rows
        + "</table>"
        + (f'<p class="note">{escape(first_findings)}</p>' if len(report.findings) > MAX_FINDINGS_IN_PDF else "")
    )
    summary = (
        _table(overall, w["interval_all"], lang, with_interval=False)
        if overall
        else f"<p>{escape(w['no_interval'])}</p>"
    )
    generated = local_datetime(report.generated_at.astimezone(zone), lang)
    charts = "".join(_img(svg, alt) for alt, svg in report_charts(report, lang))
    quality = w["data_quality_text"].format(n=f"{len(report.findings):,}")
    css = CSS % {"page": w["page"]}
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>{escape(w["title"])} {escape(start)} – {escape(end)}</title><style>{css}</style></head><body>
<section class="cover">
<h1>{escape(w["title"])}</h1>
<p><b>{escape(start)} – {escape(end)}</b> ({escape(report.timezone)}) · {report.incidents:,} {escape(w["incidents"])} ·
{escape(w["generated"])} {escape(generated)}</p>
<h2>{escape(w["summary"])}</h2>
{summary}
<h2>{escape(w["against_targets"])}</h2><ul>{"".join(verdicts) or f"<li>{escape(w['no_target'])}</li>"}</ul>
<h2>{escape(w["data_quality"])}</h2><p>{escape(quality)}</p>
<p class="note">{escape(w["method"])}</p>
</section>
<h2>{escape(w["charts"])}</h2>
{charts}
{_dimension_table(report, "district", w["by_district"], lang)}
{_dimension_table(report, "type", w["by_type"], lang)}
{_dimension_table(report, "shift", w["by_shift"], lang)}
{_dimension_table(report, "month", w["by_month"], lang)}
{_dimension_table(report, "agency", w["by_agency"], lang, "unit")}
{_dimension_table(report, "unit", w["by_unit"], lang, "unit")}
{_dimension_table(report, "day", w["by_day"], lang) if report.end - report.start <= timedelta(days=62) else ""}
<h2>{escape(w["findings"])}</h2>{findings}
</body></html>"""


def report_pdf(report: Report, lang: str = DEFAULT_LANGUAGE) -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=report_html(report, lang)).write_pdf()
    return pdf


def report_json_bytes(doc: dict[str, Any]) -> bytes:
    import json

    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
