#!/usr/bin/env python3
"""Draws the pictures of the sign-in dashboards in docs/azure.md and docs/aws.md.

    scripts/dashboard-picture.py            # docs/img/dashboard-azure.svg and dashboard-aws.svg
    scripts/dashboard-picture.py --sample   # first writes docs/img/sample-sign-ins.jsonl anew

The pictures are drawn from docs/img/sample-sign-ins.jsonl: one sign-in event a line, in the
schema the handler logs (docs/azure.md and docs/aws.md, Dashboard and alerts), plus its
`timestamp`. `--sample` makes a plausible day of such events from a fixed seed: office-hours
traffic, silent renewals, a few refusals, a six-minute outage of the identity provider's
metadata (idp_unavailable) and a client secret that expired at 13:05 and was replaced at 13:50
(token_exchange_failed, AADSTS7000222). The same file gives the same pictures.

Each picture has the layout and the charts of the template's dashboard (the Bicep workbook, the
CloudFormation dashboard), computed the way their queries compute them. Python standard library
only.
"""

import argparse
import json
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
SAMPLE = IMG / "sample-sign-ins.jsonl"

DAY = datetime(2026, 11, 24, tzinfo=timezone.utc)
BIN_MIN = 15  # chart resolution of the pictures (the dashboards chart per minute / 5 min)
NOT_FAILED = ("success", "renewal_interactive")

# One colour per outcome, the same in both pictures.
COLOURS = {
    "success": "#2e7d32",
    "renewal_interactive": "#7cb342",
    "token_exchange_failed": "#c62828",
    "idp_unavailable": "#6a1b9a",
    "access_denied_by_policy": "#ef6c00",
    "idp_error": "#f9a825",
    "state_expired": "#0277bd",
    "groups_unavailable": "#5d4037",
}


# ---- sample events ------------------------------------------------------------------------


def traffic_per_minute(minute):
    """Expected sign-ins in a minute of the day: quiet nights, two office-hours peaks."""
    h = minute / 60
    peak = 2.6 * math.exp(-((h - 9.2) ** 2) / 3.0) + 2.0 * math.exp(-((h - 14.0) ** 2) / 4.0)
    return 0.04 + peak


def poisson(rng, lam):
    # Knuth's method; lam is small here.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def lognormal_ms(rng, median, spread):
    return max(1, int(round(rng.lognormvariate(math.log(median), spread))))


def sample_events(seed=22):
    rng = random.Random(seed)
    tenants = ["3f2b9c4e-8d1a-4e6f-9b07-5c1d2e3f4a5b"] * 8 + [
        "a7d0e1f2-3b4c-4d5e-8f60-718293a4b5c6",
        "c9e8d7f6-5a4b-4c3d-9e2f-1a0b9c8d7e6f",
    ]
    events = []
    for minute in range(24 * 60):
        for _ in range(poisson(rng, traffic_per_minute(minute))):
            at = DAY + timedelta(minutes=minute, seconds=rng.random() * 60)
            events.append(sample_event(rng, at, minute, rng.choice(tenants)))
    return events


def sample_event(rng, at, minute, tenant):
    outage = 10 * 60 + 20 <= minute < 10 * 60 + 26  # metadata and keys unreachable
    expired = 13 * 60 + 5 <= minute < 13 * 60 + 50  # the client secret expired
    r = rng.random()
    if r < 0.015:
        outcome = "state_expired"
    elif outage:
        outcome = "idp_unavailable"
    elif r < 0.10:
        outcome = "renewal_interactive"
    elif r < 0.112:
        outcome = "idp_error"
    elif expired:
        outcome = "token_exchange_failed"
    elif r < 0.132:
        outcome = "access_denied_by_policy"
    elif r < 0.135:
        outcome = "token_exchange_failed"
    elif r < 0.137:
        outcome = "groups_unavailable"
    else:
        outcome = "success"

    renewal = outcome == "renewal_interactive" or (outcome == "success" and rng.random() < 0.3)
    aadsts, status, idp_ms = "", 302, 0
    if outcome in ("success", "access_denied_by_policy"):
        idp_ms = lognormal_ms(rng, 135, 0.35)
        if rng.random() < 0.06:  # groups overage: a Graph lookup after the token call
            idp_ms += lognormal_ms(rng, 170, 0.3)
        status = 302 if outcome == "success" else 403
    elif outcome == "renewal_interactive":
        status = 200
    elif outcome == "state_expired":
        status = 400
    elif outcome == "idp_error":
        aadsts, status = rng.choice(["AADSTS65004", "AADSTS50105"]), 400
    elif outcome == "token_exchange_failed":
        aadsts = "AADSTS7000222" if minute >= 13 * 60 + 5 and minute < 13 * 60 + 50 else "AADSTS54005"
        idp_ms, status = lognormal_ms(rng, 95, 0.3), 502
    elif outcome == "idp_unavailable":
        idp_ms, status = 3000 + lognormal_ms(rng, 4, 0.5), 502
    elif outcome == "groups_unavailable":
        idp_ms, status = lognormal_ms(rng, 135, 0.3) + lognormal_ms(rng, 400, 0.3), 502
    duration_ms = idp_ms + lognormal_ms(rng, 3, 0.5)
    return {
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
        "event": "sign_in",
        "outcome": outcome,
        "tenant": tenant,
        "duration_ms": duration_ms,
        "idp_ms": idp_ms,
        "credential": "secret",
        "renewal": renewal,
        "aadsts": aadsts,
        "status": status,
    }


def write_sample(events):
    IMG.mkdir(parents=True, exist_ok=True)
    with SAMPLE.open("w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


def read_sample():
    events = []
    for line in SAMPLE.read_text().splitlines():
        e = json.loads(line)
        e["at"] = datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        events.append(e)
    return events


# ---- what the dashboards compute ----------------------------------------------------------


def percentile(values, p):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def bins(events):
    n = 24 * 60 // BIN_MIN
    out = [[] for _ in range(n)]
    for e in events:
        out[min(n - 1, int((e["at"] - DAY).total_seconds() // (BIN_MIN * 60)))].append(e)
    return out


def failed(e):
    return e["outcome"] not in NOT_FAILED


def outcomes_by_count(events):
    counts = {}
    for e in events:
        counts[e["outcome"]] = counts.get(e["outcome"], 0) + 1
    return sorted(counts, key=lambda o: -counts[o])


def per_minute_by_outcome(events, order):
    return [(o, [sum(1 for e in b if e["outcome"] == o) / BIN_MIN for b in bins(events)]) for o in order]


def timing_series(events, field, positive_only):
    series = {"p50": [], "p95": []}
    for b in bins(events):
        values = [e[field] for e in b if e[field] > 0 or not positive_only]
        series["p50"].append(percentile(values, 50))
        series["p95"].append(percentile(values, 95))
    return series


def failures_by(events, *keys, require=None):
    counts = {}
    for e in events:
        if failed(e) and (require is None or e[require]):
            k = tuple(e[key] for key in keys)
            counts[k] = counts.get(k, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def last_seen(events, outcome, aadsts):
    times = [e["at"] for e in events if e["outcome"] == outcome and e["aadsts"] == aadsts]
    return max(times).strftime("%H:%M") if times else ""


# ---- SVG ----------------------------------------------------------------------------------


class Svg:
    def __init__(self, width, height, background):
        self.width, self.height, self.parts = width, height, []
        self.rect(0, 0, width, height, fill=background)

    def rect(self, x, y, w, h, fill="none", stroke="none", rx=0):
        self.parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="{rx}" fill="{fill}" stroke="{stroke}"/>'
        )

    def line(self, x1, y1, x2, y2, stroke="#ddd", width=1, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" stroke-width="{width}"{d}/>'
        )

    def text(self, x, y, s, size=11, fill="#333", anchor="start", weight="normal"):
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" text-anchor="{anchor}"'
            f' font-weight="{weight}">{escape(str(s))}</text>'
        )

    def polyline(self, points, stroke, width=1.5):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.parts.append(f'<polyline points="{pts}" fill="none" stroke="{stroke}" stroke-width="{width}"/>')

    def polygon(self, points, fill, opacity=0.85):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.parts.append(f'<polygon points="{pts}" fill="{fill}" fill-opacity="{opacity}" stroke="none"/>')

    def render(self):
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" font-family="Segoe UI, Helvetica, Arial, sans-serif">\n'
            + "\n".join(self.parts)
            + "\n</svg>\n"
        )


def nice_max(v):
    if v <= 0:
        return 1
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8, 10):  # quarters stay round
        if v <= m * exp:
            return m * exp
    return 10 * exp


def fmt(v):
    return f"{v:.0f}" if v == int(v) else f"{v:g}"


def panel(svg, x, y, w, h, title, style):
    svg.rect(x, y, w, h, fill="#fff", stroke=style["border"], rx=style["radius"])
    svg.text(x + 12, y + 20, title, size=12, fill=style["title"], weight="600")


def legend_rows(items, width):
    rows, row, used = [], [], 0
    for label, colour in items:
        w = 24 + 6.2 * len(label)
        if row and used + w > width:
            rows.append(row)
            row, used = [], 0
        row.append((label, colour, w))
        used += w
    return rows + [row] if row else rows


def legend(svg, x, y, rows):
    for r, row in enumerate(rows):
        lx = x
        for label, colour, w in row:
            svg.rect(lx, y + 14 * r - 8, 9, 9, fill=colour)
            svg.text(lx + 12, y + 14 * r, label, size=10, fill="#555")
            lx += w


def time_chart(svg, x, y, w, h, title, series, style, stacked=False, unit="", right=None, clip=False):
    """series: [(label, colour, values or None per bin)]. right: (label, colour, values) on 0–100."""
    panel(svg, x, y, w, h, title, style)
    items = [(s[0], s[1]) for s in series] + ([(right[0], right[1])] if right else [])
    rows = legend_rows(items, w - 24)
    left, top, bottom = x + 42, y + 34, y + h - 30 - 14 * len(rows)
    plot_w = w - 54 - (34 if right else 0)
    n = len(series[0][2])
    values = [v for s in series for v in s[2] if v is not None]
    if stacked:
        ymax = nice_max(max(sum(s[2][i] or 0 for s in series) for i in range(n)))
    elif clip:
        # Timings: the axis fits the usual values; a spike is clipped and labelled.
        ymax = nice_max(2 * percentile(values, 90))
    else:
        ymax = nice_max(max(values))
    for k in range(5):
        gy = bottom - (bottom - top) * k / 4
        svg.line(left, gy, left + plot_w, gy, stroke="#eee")
        svg.text(left - 5, gy + 4, fmt(ymax * k / 4), size=9, fill="#777", anchor="end")
        if right:
            svg.text(left + plot_w + 5, gy + 4, f"{25 * k}", size=9, fill=right[1])
    if unit:
        svg.text(left - 38, top - 8, unit, size=9, fill="#777")
    for hour in range(0, 25, 3):
        gx = left + plot_w * hour / 24
        svg.line(gx, bottom, gx, bottom + 4, stroke="#999")
        svg.text(gx, bottom + 15, f"{hour:02d}:00", size=9, fill="#777", anchor="middle")

    def px(i):
        return left + plot_w * (i + 0.5) / n

    def py(v, vmax=ymax):
        return bottom - (bottom - top) * min(v, vmax) / vmax

    if stacked:
        base = [0.0] * n
        for _, colour, values in series:
            upper = [base[i] + (values[i] or 0) for i in range(n)]
            if max(values) > 0:
                pts = [(px(i), py(upper[i])) for i in range(n)] + [(px(i), py(base[i])) for i in reversed(range(n))]
                svg.polygon(pts, colour)
            base = upper
    else:
        for _, colour, values in series:
            run = []
            for i, v in enumerate(values + [None]):
                if v is not None:
                    run.append((px(i), py(v)))
                    if v > ymax:
                        svg.text(px(i) + 4, top + 8, f"{v:.0f}", size=9, fill=colour)
                    continue
                if len(run) > 1:
                    svg.polyline(run, colour)
                elif run:
                    svg.parts.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="1.6" fill="{colour}"/>')
                run = []
    if right:
        svg.polyline([(px(i), py(v, 100)) for i, v in enumerate(right[2]) if v is not None], right[1], width=1.2)
    legend(svg, x + 12, bottom + 30, rows)


def bar_chart(svg, x, y, w, h, title, rows, style):
    """Horizontal bars: rows = [(label, value, colour)]."""
    panel(svg, x, y, w, h, title, style)
    vmax = max((r[1] for r in rows), default=1)
    label_w, top = 170, y + 36
    bar_h = min(22, (h - 50) / max(1, len(rows)) - 6)
    for i, (label, value, colour) in enumerate(rows):
        by = top + i * (bar_h + 6)
        svg.text(x + 12, by + bar_h * 0.7, label, size=10, fill="#444")
        bw = (w - label_w - 60) * value / vmax
        svg.rect(x + label_w, by, max(1, bw), bar_h, fill=colour)
        svg.text(x + label_w + bw + 6, by + bar_h * 0.7, value, size=10, fill="#444")


def table(svg, x, y, w, h, title, headers, rows, widths, style):
    panel(svg, x, y, w, h, title, style)
    top = y + 38
    svg.rect(x + 8, top - 12, w - 16, 18, fill=style["table_head"])
    cx = x + 14
    for head, cw in zip(headers, widths):
        svg.text(cx, top, head, size=10, fill="#333", weight="600")
        cx += cw
    for r, row in enumerate(rows[: max(1, int((h - 40) // 18))]):
        ry = top + 18 * (r + 1)
        svg.line(x + 8, ry - 13, x + w - 8, ry - 13, stroke="#eee")
        cx = x + 14
        for cell, cw in zip(row, widths):
            svg.text(cx, ry, cell, size=10, fill="#444")
            cx += cw


def footnote(svg, text):
    svg.text(svg.width - 12, svg.height - 8, text, size=9, fill="#888", anchor="end")


def timing_charts(svg, events, xs, y, w, h, titles, colours, idp_positive_only, style):
    """The two p50/p95 charts side by side: IdP round trip, then callback duration."""
    for x, title, (field, positive_only) in zip(
        xs, titles, (("idp_ms", idp_positive_only), ("duration_ms", False))
    ):
        s = timing_series(events, field, positive_only)
        series = [("p50", colours[0], s["p50"]), ("p95", colours[1], s["p95"])]
        time_chart(svg, x, y, w, h, title, series, style, unit="ms", clip=True)


NOTE = "Sample data (docs/img/sample-sign-ins.jsonl, drawn by scripts/dashboard-picture.py), not a real tenant"


def summary(events):
    n = len(events)
    failures = sum(1 for e in events if failed(e))
    return n, failures, 100 * failures / n if n else 0


def draw_azure(events):
    style = {"border": "#e1dfdd", "radius": 2, "title": "#323130", "table_head": "#f3f2f1"}
    svg = Svg(1100, 1000, "#faf9f8")
    svg.text(20, 30, "entra-sso: sign-ins", size=18, fill="#323130", weight="600")
    svg.text(
        20,
        50,
        "Workbook on Application Insights (deploy/azure/main.bicep), from traces. This picture bins at 15 min.",
        size=11,
        fill="#605e5c",
    )
    svg.rect(20, 62, 150, 22, fill="#fff", stroke="#8a8886", rx=11)
    svg.text(32, 77, "Time range: Last 24 hours", size=10, fill="#323130")

    n, failures, rate = summary(events)
    renewals = sum(1 for e in events if e["outcome"] == "renewal_interactive")
    p95 = percentile([e["duration_ms"] for e in events], 95)
    table(
        svg,
        20,
        96,
        1060,
        64,
        "Totals",
        ["sign_ins", "failures", "renewal_interactive", "p95_duration_ms", "failure_percent"],
        [(n, failures, renewals, p95, f"{rate:.1f}")],
        [200, 200, 200, 200, 200],
        style,
    )
    order = outcomes_by_count(events)
    time_chart(
        svg,
        20,
        166,
        1060,
        250,
        "Sign-ins per minute by outcome",
        [(o, COLOURS[o], v) for o, v in per_minute_by_outcome(events, order)],
        style,
    )
    by_code = failures_by(events, "outcome")
    bar_chart(
        svg, 20, 428, 520, 230, "Failures by code", [(k[0], v, COLOURS[k[0]]) for k, v in by_code], style
    )
    by_aadsts = failures_by(events, "aadsts", "outcome", "credential", require="aadsts")
    table(
        svg,
        560,
        428,
        520,
        230,
        "Failures by AADSTS code",
        ["aadsts", "outcome", "credential", "failures", "last_seen"],
        [(k[0], k[1], k[2], v, last_seen(events, k[1], k[0])) for k, v in by_aadsts],
        [110, 160, 80, 70, 70],
        style,
    )
    timing_charts(svg, events, (20, 560), 670, 520, 300, titles=(
        "IdP round trip (token call and Graph), ms: p50 and p95",
        "Callback duration, ms: p50 and p95",
    ), colours=("#0078d4", "#8764b8"), idp_positive_only=True, style=style)
    footnote(svg, NOTE)
    return svg.render()


def draw_aws(events):
    style = {"border": "#d5dbdb", "radius": 4, "title": "#16191f", "table_head": "#f2f3f3"}
    svg = Svg(1100, 900, "#f2f3f3")
    svg.rect(12, 12, 1076, 56, fill="#fff", stroke=style["border"], rx=4)
    svg.text(24, 36, "entra-sso sign-ins: entra-sso-EntraSso-AbC123", size=16, fill="#16191f", weight="600")
    svg.text(
        24,
        56,
        "CloudWatch dashboard <stack>-sign-ins (deploy/aws/template.yaml): namespace EntraSso, 1 day."
        " This picture bins at 15 min.",
        size=11,
        fill="#545b64",
    )
    order = outcomes_by_count(events)
    time_chart(
        svg,
        12,
        80,
        533,
        260,
        "Sign-ins per minute by outcome",
        [(o, COLOURS[o], v) for o, v in per_minute_by_outcome(events, order)],
        style,
        stacked=True,
    )
    b = bins(events)
    fails = [sum(1 for e in x if failed(e)) for x in b]
    signins = [len(x) for x in b]
    time_chart(
        svg,
        555,
        80,
        533,
        260,
        "Failures and failure rate",
        [("Failures", "#d13212", fails), ("Sign-ins", "#1f77b4", signins)],
        style,
        right=("Failure rate (%)", "#ff7f0e", [100 * f / s if s else 0 for f, s in zip(fails, signins)]),
    )
    by_code = failures_by(events, "outcome")
    bar_chart(
        svg,
        12,
        350,
        533,
        250,
        "Failures by outcome (sum over the time range)",
        [(k[0], v, COLOURS[k[0]]) for k, v in by_code],
        style,
    )
    by_aadsts = failures_by(events, "outcome", "aadsts", "credential")
    table(
        svg,
        555,
        350,
        533,
        250,
        "Failures by outcome and AADSTS code (Logs Insights)",
        ["Outcome", "aadsts", "credential", "failures", "last_seen"],
        [(k[0], k[1], k[2], v, last_seen(events, k[0], k[1])) for k, v in by_aadsts],
        [160, 110, 80, 70, 70],
        style,
    )
    # CloudWatch's IdpRoundTrip statistics include the zeros of sign-ins without an IdP call.
    timing_charts(svg, events, (12, 555), 610, 533, 270, titles=(
        "IdP round trip (token call and Graph), ms",
        "Callback duration, ms",
    ), colours=("#1f77b4", "#ff7f0e"), idp_positive_only=False, style=style)
    footnote(svg, NOTE)
    return svg.render()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", action="store_true", help="write docs/img/sample-sign-ins.jsonl anew first")
    args = parser.parse_args()
    if args.sample or not SAMPLE.exists():
        write_sample(sample_events())
    events = read_sample()
    for name, draw in (("dashboard-azure.svg", draw_azure), ("dashboard-aws.svg", draw_aws)):
        path = IMG / name
        path.write_text(draw(events))
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")
    n, failures, rate = summary(events)
    print(f"{SAMPLE.relative_to(ROOT)}: {n} sign-ins, {failures} failed ({rate:.1f} %)")


if __name__ == "__main__":
    main()
