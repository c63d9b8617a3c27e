"""The report's words in the reader's language: Indonesian by default, English on request (pure).

The PDF's headings and sentences, the charts' labels and the CSV header rows take their words from
here, so a manager reading the consoles in Indonesian gets an Indonesian report and one reading them
in English an English one. The data in the rows (interval codes, keys, yes/no) stays as it is.
"""

from __future__ import annotations

from datetime import datetime

from reports.intervals import INTERVAL_LABELS, Interval

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"

INTERVAL_LABELS_ID: dict[Interval, str] = {
    Interval.ANSWERING: "Menjawab panggilan (diterima → dijawab)",
    Interval.PROCESSING: "Memproses panggilan (dijawab → unit pertama diberi tahu)",
    Interval.TURNOUT: "Persiapan berangkat (diberi tahu → berangkat)",
    Interval.TRAVEL: "Perjalanan (berangkat → tiba di lokasi)",
    Interval.RESPONSE: "Respons total (diterima → unit pertama tiba)",
    Interval.ON_SCENE: "Di lokasi (tiba → selesai)",
    Interval.TO_CLOSE: "Sampai ditutup (diterima → ditutup)",
}

#: Interval names short enough for a column heading.
SHORT_INTERVALS: dict[str, dict[Interval, str]] = {
    "en": {i: str(i).replace("_", " ") for i in Interval},
    "id": {
        Interval.ANSWERING: "menjawab",
        Interval.PROCESSING: "memproses",
        Interval.TURNOUT: "persiapan",
        Interval.TRAVEL: "perjalanan",
        Interval.RESPONSE: "respons",
        Interval.ON_SCENE: "di lokasi",
        Interval.TO_CLOSE: "sampai ditutup",
    },
}

#: CSV column headings; the keys are the English (machine) names the rows are built with.
CSV_COLUMNS_ID = {
    "dimension": "dimensi",
    "key": "kunci",
    "level": "tingkat",
    "interval": "interval",
    "count": "jumlah",
    "median_s": "median_dtk",
    "p90_s": "p90_dtk",
    "p95_s": "p95_dtk",
    "problem": "masalah",
    "incident_id": "id_kejadian",
    "number": "nomor",
    "unit_id": "id_unit",
    "callsign": "tanda_panggil",
    "detail": "rincian",
    "type": "jenis",
    "district": "kecamatan",
    "unit": "unit",
    "agency": "instansi",
    "answering": "menjawab_dtk",
    "processing": "memproses_dtk",
    "turnout": "persiapan_dtk",
    "travel": "perjalanan_dtk",
    "response": "respons_dtk",
    "on_scene": "di_lokasi_dtk",
    "to_close": "sampai_ditutup_dtk",
}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Response times",
        "incidents": "incidents",
        "generated": "generated",
        "summary": "Summary",
        "against_targets": "Against the targets",
        "no_target": "no target applies",
        "data_quality": "Data quality",
        "data_quality_text": "{n} interval(s) could not be measured (missing or out-of-order stamps); "
        "they are listed at the end, never counted as zero.",
        "method": "Percentiles are nearest-rank (the value at rank ⌈p·N/100⌉ of the N sorted values), as NFPA "
        "fractile reports use. Turnout and travel of an incident are its first-arriving unit's. Targets: NFPA 1221 "
        "(answering, processing) and NFPA 1710 (turnout, travel) unless configured otherwise.",
        "charts": "Charts",
        "by_district": "By district",
        "by_type": "By incident type",
        "by_shift": "By shift (WITA)",
        "by_month": "By month",
        "by_agency": "By agency (all responding units)",
        "by_unit": "By unit (all responses)",
        "by_day": "By day",
        "findings": "Data-quality findings",
        "no_findings": "None: every stamp present and in order.",
        "first_findings": "First {shown} of {n}; all are in the findings CSV.",
        "no_interval": "No interval measured in this period.",
        "interval_all": "interval (all incidents)",
        "interval": "interval",
        "n": "n",
        "median_s": "median s",
        "p90_s": "90th s",
        "p95_s": "95th s",
        "p90_n": "p90 s (n)",
        "compliance": "compliance",
        "within_target": "within target",
        "need": "need",
        "within": "{share} within {s} s",
        "meets": "meets the {f} target",
        "misses": "misses the {f} target",
        "incident": "incident",
        "unit": "unit",
        "problem": "problem",
        "detail": "detail",
        "district": "district",
        "type": "type",
        "shift": "shift",
        "month": "month",
        "agency": "agency",
        "day": "day",
        "page": 'page " counter(page) " of " counter(pages)',
        "chart_incidents": "incidents",
        "chart_minutes": "minutes, {interval}",
        "chart_distribution": "Distribution: {interval}",
        "chart_within": "% within target",
        "chart_required": "required {f}",
        "chart_none": "no {interval} measured",
        "chart_compliance": "Compliance by district",
        "chart_seconds": "seconds",
        "chart_p90": "90th percentile",
        "chart_median": "median",
        "chart_per_day": "{interval}, per day (WITA)",
        "chart_trend": "Trend by day",
        "alt_distribution": "distribution of total response times",
        "alt_compliance": "travel compliance by district",
        "alt_trend": "response time trend by day",
        "share": "share",
        "compliant": "compliant",
    },
    "id": {
        "title": "Waktu respons",
        "incidents": "kejadian",
        "generated": "dibuat",
        "summary": "Ringkasan",
        "against_targets": "Terhadap target",
        "no_target": "tidak ada target yang berlaku",
        "data_quality": "Kualitas data",
        "data_quality_text": "{n} interval tidak dapat diukur (cap waktu hilang atau tidak berurutan); "
        "semuanya tercantum di akhir, tidak pernah dihitung nol.",
        "method": "Persentil memakai peringkat terdekat (nilai pada peringkat ⌈p·N/100⌉ dari N nilai terurut), "
        "seperti laporan fraktil NFPA. Persiapan dan perjalanan sebuah kejadian adalah milik unit yang tiba "
        "pertama. Target: NFPA 1221 (menjawab, memproses) dan NFPA 1710 (persiapan, perjalanan) kecuali diatur lain.",
        "charts": "Grafik",
        "by_district": "Per kecamatan",
        "by_type": "Per jenis kejadian",
        "by_shift": "Per sif (WITA)",
        "by_month": "Per bulan",
        "by_agency": "Per instansi (semua unit yang merespons)",
        "by_unit": "Per unit (semua respons)",
        "by_day": "Per hari",
        "findings": "Temuan kualitas data",
        "no_findings": "Tidak ada: semua cap waktu ada dan berurutan.",
        "first_findings": "{shown} pertama dari {n}; semuanya ada di CSV temuan.",
        "no_interval": "Tidak ada interval terukur pada periode ini.",
        "interval_all": "interval (semua kejadian)",
        "interval": "interval",
        "n": "n",
        "median_s": "median dtk",
        "p90_s": "p90 dtk",
        "p95_s": "p95 dtk",
        "p90_n": "p90 dtk (n)",
        "compliance": "kepatuhan",
        "within_target": "dalam target",
        "need": "perlu",
        "within": "{share} dalam {s} dtk",
        "meets": "memenuhi target {f}",
        "misses": "tidak memenuhi target {f}",
        "incident": "kejadian",
        "unit": "unit",
        "problem": "masalah",
        "detail": "rincian",
        "district": "kecamatan",
        "type": "jenis",
        "shift": "sif",
        "month": "bulan",
        "agency": "instansi",
        "day": "hari",
        "page": 'halaman " counter(page) " dari " counter(pages)',
        "chart_incidents": "kejadian",
        "chart_minutes": "menit, {interval}",
        "chart_distribution": "Sebaran: {interval}",
        "chart_within": "% dalam target",
        "chart_required": "wajib {f}",
        "chart_none": "tidak ada {interval} terukur",
        "chart_compliance": "Kepatuhan per kecamatan",
        "chart_seconds": "detik",
        "chart_p90": "persentil ke-90",
        "chart_median": "median",
        "chart_per_day": "{interval}, per hari (WITA)",
        "chart_trend": "Tren per hari",
        "alt_distribution": "sebaran waktu respons total",
        "alt_compliance": "kepatuhan perjalanan per kecamatan",
        "alt_trend": "tren waktu respons per hari",
        "share": "porsi",
        "compliant": "memenuhi",
    },
}

_MONTHS_ID = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def language(lang: str | None) -> str:
    """A language the report speaks: the one asked for, or Indonesian."""
    return lang if lang is not None and lang in LANGUAGES else DEFAULT_LANGUAGE


def words(lang: str) -> dict[str, str]:
    return WORDS[language(lang)]


def interval_label(interval: Interval | str, lang: str) -> str:
    labels = INTERVAL_LABELS_ID if language(lang) == "id" else INTERVAL_LABELS
    return labels[Interval(interval)]


def csv_heading(column: str, lang: str) -> str:
    """A CSV column's heading: the machine name in English, its Indonesian name otherwise."""
    return CSV_COLUMNS_ID.get(column, column) if language(lang) == "id" else column


def local_datetime(value: datetime, lang: str) -> str:
    """`02 Nov 2026 08:00` (English) or `02 Nov 2026 08:00` with Indonesian month names."""
    if language(lang) == "id":
        return f"{value:%d} {_MONTHS_ID[value.month - 1]} {value:%Y %H:%M}"
    return value.strftime("%d %b %Y %H:%M")
