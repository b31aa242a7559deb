"""The benchmark's summary: medians, ratios and verdicts per scenario; the table; the chart."""

import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RSS_LIMIT_MB = 100
RSS_GROWTH_MB = 5  # more than this between the first and the last round counts as growing
REBUILD_TARGET = 20_000
READINGS_PER_POST = 100  # the telemetry batch
TELEMETRY_TARGET = 50_000  # readings accepted per second
FLOOR_SHARE = 0.85  # of the floor's req/s, for the reads the floor serves (issue 25)
OBSERVERS_LIMIT_US = 5  # what the access line and the metrics may cost a request (issue 25)
# A scenario measured against another of its phase: p50 ratio target, what the ratio is, what the baseline does.
P50_RATIOS = {
    "deep_page_n": ("deep_page_1", 1.2, "page N / page 1", "baseline (OFFSET)"),
    "device_many": ("device_few", 1.2, "many readings / 1 reading", "baseline (statistics at query time)"),
}
P50_PAIRED = {*P50_RATIOS, *(reference for reference, *_ in P50_RATIOS.values())}  # both sides of each ratio
NOTED = ("post_telemetry", "post_item", *P50_RATIOS)
TARGETS = (
    "product",
    "ceiling",
    "baseline",
    "floor",
    "quiet",
)  # the table shows the figure that decides beside the verdict


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def _figures(runs: list[dict]) -> dict:
    return {
        "rps": _median(runs, "rps"),
        "ok_rps": statistics.median(run.get("ok_rps", run["rps"]) for run in runs),  # 2xx answers only
        "p50_ms": _median(runs, "p50_us") / 1000,
        "p99_ms": _median(runs, "p99_us") / 1000,
        "errors": sum(run["errors"] for run in runs),
        "rounds": len(runs),
        "sequential": any(run.get("sequential") for run in runs),
        "one_by_one_p50_ms": _one_by_one_p50_ms(runs),
        **_cpu_per_request(runs),
    }


def _cpu_per_request(runs: list[dict]) -> dict:
    """The median over the rounds of the CPU µs per request of the target's workers and of the
    database server, where the phase measured them (the postgres phase; not in a round where a
    worker was recycled)."""
    measured = [run["cpu_us_per_request"] for run in runs if run.get("cpu_us_per_request")]
    if not measured:
        return {}
    return {"cpu_us_per_request": {k: statistics.median(m[k] for m in measured) for k in ("workers", "database")}}


def _one_by_one_p50_ms(runs: list[dict]) -> float | None:
    """The median over the rounds of the p50 of requests sent one after another (None if no
    round timed any: results written before 2026-12-05)."""
    p50s = [run["p50_us"] if run.get("sequential") else run.get("one_by_one", {}).get("p50_us") for run in runs]
    p50s = [p50 for p50 in p50s if p50 is not None]
    return statistics.median(p50s) / 1000 if p50s else None


def _ratio(mine: float, theirs: float) -> float | None:
    return mine / theirs if theirs else None


def _observers(product: list[dict], quiet: list[dict]) -> dict:
    """What the access line and the metrics cost a request: the product against the quiet
    product in the same rounds, as req/s and as CPU µs a request of the workers (the median
    of the rounds' differences; None where a worker was recycled during a run)."""
    pairs = [
        (mine["cpu_us_per_request"]["workers"], theirs["cpu_us_per_request"]["workers"])
        for mine, theirs in zip(product, quiet)
        if mine.get("cpu_us_per_request") and theirs.get("cpu_us_per_request")
    ]
    return {
        "x_quiet": _ratio(_median(product, "rps"), _median(quiet, "rps")),
        "cpu_us": statistics.median(mine - theirs for mine, theirs in pairs) if pairs else None,
        "rounds": [_ratio(mine["rps"], theirs["rps"]) for mine, theirs in zip(product, quiet)],
    }


def _verdict(key: str, row: dict, rows: dict) -> tuple[bool | None, str]:
    """Whether the product meets the issue's target for this scenario, and the figure that decides."""
    vs_base, vs_ceiling, vs_floor = row.get("x_baseline"), row.get("x_ceiling"), row.get("x_floor")
    if vs_base is None or vs_ceiling is None:
        return None, "a target answered nothing"
    if key == "pg_employees_page":  # the issue asks lists ≥ 1.0× on PostgreSQL
        return vs_base >= 1.0, f"{vs_base:.2f}× baseline"
    on_postgres, key = key.startswith("pg_"), key.removeprefix("pg_")  # the SQLite phase's targets, unless said
    floor_met = vs_floor is not None and vs_floor >= FLOOR_SHARE
    floor_text = f", {vs_floor:.2f}× floor" if vs_floor is not None else ""
    if key == "item_by_id" and vs_floor is None:  # the postgres phase has no floor
        return vs_base >= 1.0 and vs_ceiling >= 0.5, f"{vs_base:.2f}× baseline, {vs_ceiling:.2f}× ceiling"
    if key in ("item_by_id", "items_page", "employees_page") and not on_postgres:
        least = {"item_by_id": 1.0, "items_page": 1.3, "employees_page": 2.0}[key]
        return vs_base >= least and floor_met, f"{vs_base:.2f}× baseline{floor_text}"
    if key == "items_page":
        return vs_base >= 1.0, f"{vs_base:.2f}× baseline"
    if key in ("user_orders", "order_by_id"):
        return vs_base >= 1.5, f"{vs_base:.2f}× baseline"
    if key == "post_item" and not on_postgres:
        p99 = _ratio(row["product"]["p99_ms"], row["baseline"]["p99_ms"])
        return vs_base >= 0.5 and p99 <= 3, f"{vs_base:.2f}× baseline, p99 {p99:.1f}× baseline's"
    if key == "post_item":
        return vs_base >= 0.5, f"{vs_base:.2f}× baseline"
    if key == "post_telemetry":
        mine, theirs = (READINGS_PER_POST * row[name]["ok_rps"] for name in ("product", "baseline"))
        row["readings_per_s"] = {"product": mine, "baseline": theirs}
        return mine >= TELEMETRY_TARGET, f"readings/s accepted: product {mine:,.0f}, baseline {theirs:,.0f}"
    if key in P50_RATIOS and P50_RATIOS[key][0] in rows:
        reference, limit, what, baseline = P50_RATIOS[key]
        first = rows[reference]
        mine = _ratio(row["product"]["p50_ms"], first["product"]["p50_ms"])
        theirs, how = _p50_ratio(row["baseline"], first["baseline"])
        row["p50_ratio"] = {"product": mine, "baseline": theirs}
        return mine is not None and mine <= limit, f"p50 {what}: product {_r(mine)}, {baseline} {_r(theirs)}{how}"
    return None, ""


def _p50_ratio(row: dict, first: dict) -> tuple[float | None, str]:
    """``row``'s p50 over ``first``'s, and how they were timed: under wrk on both sides, or
    one request at a time on both sides when either was (a loaded server against an idle
    one would say nothing); None when they were not timed alike."""
    if not (row["sequential"] or first["sequential"]):
        return _ratio(row["p50_ms"], first["p50_ms"]), ""
    this, reference = row["one_by_one_p50_ms"], first["one_by_one_p50_ms"]
    if this is None or reference is None:
        return None, " (not timed one request at a time on both sides)"
    return _ratio(this, reference), f" ({_ms(this)} / {_ms(reference)} ms, one request at a time)"


def _r(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}"


def _rss(result: dict) -> dict:
    """Per target: the largest worker RSS after any round, and how much that largest worker
    RSS grew from the first round to the last (workers may be recycled, so not per pid)."""
    out = {}
    for phase, targets in result["rss"].items():
        for name, rounds in targets.items():
            per_round = [max(sample.values()) for sample in rounds if sample]
            if not per_round:
                continue
            entry = out.setdefault(name, {"max_mb": 0.0, "growth_mb": 0.0, "per_round_max_mb": {}})
            entry["max_mb"] = max(entry["max_mb"], max(per_round))
            entry["growth_mb"] = max(entry["growth_mb"], per_round[-1] - per_round[0])
            entry["per_round_max_mb"][phase] = per_round
    return out


def _append_lock(measured: dict, post: dict | None) -> dict:
    """Per number of writers: the median commits/s of the append loop with the writers' lock
    and without, and what the lock costs (1 - with / without); beside them, the commands/s
    that POST /items reached on the product, lock included."""
    out = {"by_threads": {}}
    for threads in measured["threads"]:
        runs = [run for run in measured["runs"] if run["threads"] == threads]
        locked = statistics.median(run["tps"] for run in runs if run["lock"])
        free = statistics.median(run["tps"] for run in runs if not run["lock"])
        out["by_threads"][str(threads)] = {"with_lock_tps": locked, "without_lock_tps": free, "cost": 1 - locked / free}
    if post is not None:
        out["post_items_commands_per_s"] = post["product"]["ok_rps"]
    return out


def summarize(result: dict, scenarios: list, pending: list, size) -> dict:
    rows = {}
    for scenario in scenarios:
        row = {"title": scenario.title, "data": scenario.data, "target": scenario.target}
        for name, runs in scenario.runs.items():
            row[name] = _figures(runs)
        row["x_ceiling"] = _ratio(row["product"]["rps"], row["ceiling"]["rps"])
        row["x_baseline"] = _ratio(row["product"]["rps"], row["baseline"]["rps"])
        if "floor" in row:
            row["x_floor"] = _ratio(row["product"]["rps"], row["floor"]["rps"])
            row["floor_rounds"] = [
                _ratio(p["rps"], f["rps"]) for p, f in zip(scenario.runs["product"], scenario.runs["floor"])
            ]
        if "quiet" in row:
            row["observers"] = _observers(scenario.runs["product"], scenario.runs["quiet"])
        rows[scenario.key] = row
    for key, row in rows.items():
        row["met"], row["evidence"] = _verdict(key, row, rows)
    summary = {"rows": rows, "pending": [dict(zip(("title", "data", "target", "module"), p)) for p in pending]}
    if "in_process" in result:
        summary["in_process"] = {
            key: {name: value for name, value in figures.items() if name not in ("runs", "median")}
            for key, figures in result["in_process"].items()
        }
    if "rebuild" in result:
        small, large = result["rebuild"]
        linear = large["events_per_s"] >= 0.8 * small["events_per_s"]
        met = min(small["events_per_s"], large["events_per_s"]) >= REBUILD_TARGET and linear
        summary["rebuild"] = {"met": met, "linear": linear}
    if "append_lock" in result:
        summary["append_lock"] = _append_lock(result["append_lock"], rows.get("pg_post_item"))
    rss = _rss(result)
    if "product" in rss:
        product = rss["product"]
        product["met"] = product["max_mb"] < RSS_LIMIT_MB and product["growth_mb"] <= RSS_GROWTH_MB
    summary["rss"] = rss
    return summary


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _x(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def _met(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "—"}[met]


def table(result: dict) -> str:
    """One markdown table: every scenario of the issue, measured or not yet buildable."""
    summary = result["summary"]
    lines = [
        (
            "| scenario | data | product req/s | p50 ms | p99 ms | baseline req/s | p50 ms | p99 ms"
            " | ceiling req/s | floor req/s | product/ceiling | product/baseline | product/floor | target | result |"
        ),
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for key, row in summary["rows"].items():
        p, b, c = row["product"], row["baseline"], row["ceiling"]
        floor = _n(row["floor"]["rps"]) if "floor" in row else "—"
        errors = sum(row[t]["errors"] for t in TARGETS if t in row)
        note = f" ({row['evidence']})" if key in NOTED else ""
        note += f" [{errors} failed requests]" if errors else ""
        note += " (baseline †)" if b.get("sequential") else ""
        if p.get("cpu_us_per_request", {}).get("database") and b.get("cpu_us_per_request", {}).get("database"):
            mine, theirs = p["cpu_us_per_request"], b["cpu_us_per_request"]
            note += (
                f" (CPU µs a request, workers + database: product {mine['workers']:,.0f} + {mine['database']:,.0f},"
                f" baseline {theirs['workers']:,.0f} + {theirs['database']:,.0f})"
            )
        lines.append(
            f"| {row['title']} | {row['data']} | {_n(p['rps'])} | {_ms(p['p50_ms'])} | {_ms(p['p99_ms'])}"
            f" | {_n(b['rps'])} | {_ms(b['p50_ms'])} | {_ms(b['p99_ms'])} | {_n(c['rps'])} | {floor}"
            f" | {_x(row['x_ceiling'])} | {_x(row['x_baseline'])} | {_x(row.get('x_floor'))}"
            f" | {row['target']} | {_met(row['met'])}{note} |"
        )
    for pending in summary["pending"]:
        built = (ROOT / "app" / "commands" / f"{pending['module']}.py").exists()
        status = "module built; scenario not in the bench yet" if built else "module not built yet"
        lines.append(
            f"| {pending['title']} | {pending['data']} | {status} | | | | | | | | | | | {pending['target']} | — |"
        )
    if "rebuild" in result:
        small, large = result["rebuild"]
        verdict = summary["rebuild"]
        lines.append(
            f"| projection rebuild (in-process) | {_n(small['events'])} / {_n(large['events'])} events"
            f" | {_n(small['events_per_s'])} / {_n(large['events_per_s'])} events/s | | | | | | | | | | |"
            f" ≥ 20,000 events/s, linear | {_met(verdict['met'])}"
            f" ({small['seconds']:.1f}s / {large['seconds']:.1f}s; {'linear' if verdict['linear'] else 'not linear'}"
            + (
                f"; per CPU second of the rebuilding process: {_n(small['events_per_cpu_s'])}"
                f" / {_n(large['events_per_cpu_s'])} events"
                if "events_per_cpu_s" in small
                else ""
            )
            + (f"; each the median of {len(small['runs'])} rebuilds" if len(small.get("runs", ())) > 1 else "")
            + ") |"
        )
    if "append_lock" in summary:
        lock = summary["append_lock"]
        figures = "; ".join(
            f"{threads} writer{'s' if threads != '1' else ''}: {_n(t['with_lock_tps'])} / {_n(t['without_lock_tps'])}"
            f" (the lock costs {t['cost']:.0%})"
            for threads, t in lock["by_threads"].items()
        )
        commands = lock.get("post_items_commands_per_s")
        lines.append(
            "| PostgreSQL: append with the writers' lock / without (commits/s, in-process loop) | the event log's"
            f" INSERT | {figures} | | | | | | | | | | | (what the lock costs) | —"
            + (f" (POST /items on the product, lock included: {_n(commands)} commands/s)" if commands else "")
            + " |"
        )
    rss = summary["rss"]
    if "product" in rss:
        product = rss["product"]
        others = ", ".join(f"{name} {rss[name]['max_mb']:.0f} MB" for name in ("baseline", "ceiling") if name in rss)
        growth = f"{product['growth_mb']:+.1f} MB"
        lines.append(
            f"| worker memory (RSS, largest worker) | after all rounds | {product['max_mb']:.0f} MB"
            f" | | | | | | | | | | | < 100 MB, not growing | {_met(product['met'])}"
            f" (growth first→last round {growth}; {others}) |"
        )
    observed = {key: row for key, row in summary["rows"].items() if "observers" in row}
    if observed:
        lines += ["", *observers_table(observed, summary.get("in_process"))]
    if any(row["baseline"].get("sequential") for row in summary["rows"].values()):
        lines.append("")
        lines.append(
            "† wrk completed fewer than 10 requests in its run, so these baseline figures are"
            " 3 requests sent one after another (req/s = 1 / mean latency, p99 = the slowest)."
        )
    return "\n".join(lines)


def observers_table(rows: dict, in_process: dict | None) -> list[str]:
    """What the access line and the metrics cost a request: the product against the quiet
    product (quiet.py) in the same rounds, and in-process where the phase measured it."""
    lines = [
        f"The access line and the metrics (target: at most {OBSERVERS_LIMIT_US} µs a request): the product"
        " against the same product without them (quiet), in the same rounds.",
        "",
        "| scenario | product req/s | quiet req/s | product/quiet (rounds) | workers' CPU µs a request: product / quiet"
        " | cost µs a request (CPU, median of rounds) | in-process µs a request, least of the rounds: on / off (cost) |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for key, row in rows.items():
        seen, cpu = row["observers"], {}
        for name in ("product", "quiet"):
            cpu[name] = row[name].get("cpu_us_per_request", {}).get("workers")
        rounds = ", ".join(_r(r) for r in seen["rounds"])
        cost = "—" if seen["cpu_us"] is None else f"{seen['cpu_us']:.0f}"
        measured = (in_process or {}).get(key)
        inside = (
            f"{measured['on_us']:.1f} / {measured['off_us']:.1f} ({measured['on_us'] - measured['off_us']:.1f})"
            if measured
            else "—"
        )
        lines.append(
            f"| {row['title']} | {_n(row['product']['rps'])} | {_n(row['quiet']['rps'])}"
            f" | {_x(seen['x_quiet'])} ({rounds}) | {_n(cpu['product'] or 0)} / {_n(cpu['quiet'] or 0)}"
            f" | {cost} | {inside} |"
        )
    return lines


def _chart_title(row: dict) -> str:
    title = row["title"].replace(" (", "\n(")
    if "readings_per_s" in row:  # the target is in readings, the bars in requests
        title += f"\n= {row['readings_per_s']['product']:,.0f} readings/s (target {TELEMETRY_TARGET:,})"
    return title


def chart(result: dict, path: Path) -> None:
    """Requests/s per scenario and target (log scale), with the rebuild speed beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["summary"]["rows"]
    has_rebuild = "rebuild" in result
    fig, axes = plt.subplots(
        1,
        2 if has_rebuild else 1,
        figsize=(13 if has_rebuild else 9, max(4.8, 1.5 + 0.6 * len(rows))),
        gridspec_kw={"width_ratios": [3, 1]} if has_rebuild else None,
        squeeze=False,
    )
    ax = axes[0][0]
    titles = [_chart_title(row) for row in rows.values()]
    colors = {"product": "#1f77b4", "baseline": "#ff7f0e", "ceiling": "#9e9e9e", "floor": "#2ca02c"}
    shown = [t for t in colors if any(t in row for row in rows.values())]
    height = 0.8 / len(shown)
    for i, target in enumerate(shown):
        bars = [(n, row[target]["rps"]) for n, row in enumerate(rows.values()) if target in row]
        positions = [n + (i - (len(shown) - 1) / 2) * height for n, _ in bars]
        ax.barh(positions, [value for _, value in bars], height, label=target, color=colors[target])
    ax.set_yticks(range(len(rows)), titles, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("requests/s (median of rounds, log scale)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    if has_rebuild:
        rb = axes[0][1]
        labels = [f"{r['events']:,}" for r in result["rebuild"]]
        rb.bar(labels, [r["events_per_s"] for r in result["rebuild"]], color=colors["product"])
        rb.axhline(REBUILD_TARGET, color="red", linestyle="--", linewidth=1, label="target 20,000/s")
        rb.set_xlabel("events replayed")
        rb.set_ylabel("events/s")
        rb.set_title("projection rebuild", fontsize=9)
        rb.legend(fontsize=8)
    m = result["machine"]
    fig.suptitle(
        f"CQRS service benchmark {result['date']} ({result['mode']}): {m['cores']} cores, {m['ram_gib']} GiB,"
        f" Python {m['python']}, SQLite {m['sqlite']}"
        + (f", PostgreSQL {result['postgresql']['version'].split()[0]}" if "postgresql" in result else "")
        + f"; gunicorn {result['settings']['workers']} sync workers",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
