"""Report sections of the local-stack phases (change path, auto-recharge, client overhead) and of cold init."""

from __future__ import annotations

from typing import Any

from bench.stats import fmt
from bench.targets import COLD_TARGETS

# Known causes of import time, keyed by top-level package, for the cold-init analysis.
IMPORT_NOTES = {
    "aws_xray_sdk": "the X-Ray SDK (Powertools `Tracer` with tracing on)",
    "pydantic": "request/catalog models (`credits.api`, `credits.catalog`) import pydantic and build model classes "
                "at import",
    "pydantic_core": "pulled in by pydantic",
    "annotated_types": "pulled in by pydantic",
    "aws_lambda_powertools": "Powertools Logger/Metrics and the event_handler resolver (with its OpenAPI modules)",
    "asyncio": "`aws_lambda_powertools.event_handler/__init__` imports the AppSync resolver, which imports asyncio",
    "stripe": "the Stripe SDK",
    "credits": "the layer's own modules",
}


def table(head: list[str], rows: list[list[Any]]) -> list[str]:
    def row(cells: list[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [row(head), row(["---"] * len(head)), *(row(r) for r in rows)]


def _p(d: dict[str, Any] | None) -> str:
    if not d or d.get("p50") is None:
        return "n/a"
    return f"{d['p50']:.0f} / {d['p99']:.0f} ms"


def stack_sections(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if r.get("events"):
        out += _events(r["events"])
    if r.get("auto_recharge"):
        out += _recharge(r["auto_recharge"])
    if r.get("client_overhead"):
        out += _client(r["client_overhead"])
    return out


def _events(e: dict[str, Any]) -> list[str]:
    lat, use, once = e["alert_latency"], e["usage"], e["concurrent_crossings"]
    big = use["big_entries"]
    out = ["## Change path: alert webhook latency, usage at 10 vs 10,000 entries, exactly-once", "",
           "Through a whole local stack (HTTP API, the table's stream read by the local poller, the events "
           "function, the in-process bus and delivery queue, the deliver function) on a table of its own, with a "
           "receiver that verifies every webhook's signature (`bench/events_latency.py`).", "",
           f"**`credits.balance.low` latency**: {lat['crossings']} users with threshold 50 and 100 credits each "
           f"spend 60, fired open-loop at {lat['rate_per_s']:g}/s; from the consume's 200 to the webhook at the "
           f"receiver. Stream poll interval {lat['poll_interval_ms']:g} ms.", ""]
    out += table(["delivered", "p50 / p99", "max", "until the poller read the record", "from there to the receiver",
                  "poll interval's mean wait / p50"],
                 [[f"{lat['delivered']}/{lat['crossings']}", _p(lat["latency_ms"]),
                   f"{lat['latency_ms']['max']} ms", _p(lat["until_poller_read_ms"]), _p(lat["after_poller_read_ms"]),
                   f"{lat['poll_interval_share_of_p50']:.0%}" if lat["poll_interval_share_of_p50"] else "n/a"]])
    out += ["", f"**`GET /credits/usage` over 90 days** ({use['reps']} requests each, interleaved, through HTTP): "
            f"users with 10 entries, 90 entries (one a day) and {big:,} entries spread over the 90 days, aggregated "
            f"by the change path (seeded in {use['seed_seconds']} s, all aggregated after {use['aggregated_after_s']} "
            f"s: {(big + 100) / use['aggregated_after_s']:.0f} entries/s through the stream and the events "
            "function, each entry a usage record and a balance change on the stream).", ""]
    rows = []
    for group in ("day", "feature"):
        g = use[f"group_by_{group}"]
        rows.append([f"group_by={group}", fmt(g["at_10_ms"], " ms", 2), fmt(g["at_90_one_per_day_ms"], " ms", 2),
                     fmt(g[f"at_{big}_ms"], " ms", 2), str(g["items"]), f"{g['ratio']}×",
                     f"{g['ratio_vs_90_one_per_day']}×"])
    out += table(["query", "10 entries", "90 entries (1/day)", f"{big:,} entries", "items returned",
                  f"{big:,} vs 10", f"{big:,} vs 90"], rows)
    out += ["", f"**32 concurrent spenders** (4 users × 8 threads) drain 400 credits past thresholds 300 and 100, "
            f"twice: {once['received']} webhooks received, {once['distinct_webhook_ids']} distinct, "
            f"{once['expected_events']} expected — exactly once: {'yes' if once['exactly_once'] else '**NO**'}.", ""]
    return out


def _recharge(a: dict[str, Any]) -> list[str]:
    lat, once = a["refill_latency"], a["concurrent_crossings"]
    share = lat["poll_interval_share_of_p50"]
    out = ["## Auto-recharge through the local stack", "",
           "Each user buys the standard bundle (2,000 credits) with `save_payment_method: true`, pays in the Stripe "
           "simulator with 4242 4242 4242 4242, and enables auto-recharge (threshold 500, bundle standard, monthly "
           "limit 5); then one spend of 1,600 takes the balance to 400 (`bench/recharge_latency.py`). The path: "
           "the stream carries the crossing write to the events function, whose one conditional write starts the "
           "recharge (a `RECHARGE#` record); that record's own stream record becomes a job on the recharge queue; "
           "the recharge function confirms an off-session PaymentIntent at the simulator and credits the bundle in "
           "the ledger transaction that settles the record. Latency = from the spend's 200 to the first "
           f"`GET /credits/balance` showing 2,400, polled every {lat['balance_poll_ms']:g} ms (adds up to that, half "
           f"on average); {lat['users']} users fired open-loop at {lat['rate_per_s']:g}/s.", ""]
    out += table(["refilled", "p50 / p99", "max", "spend 200 → crossing read by the poller",
                  "→ start record read by the poller", "→ recharged balance visible",
                  f"stream poll interval's mean wait ({lat['stream_hops']} hops × ½ × {lat['poll_interval_ms']:g} ms)"
                  " / p50"],
                 [[f"{lat['refilled']}/{lat['users']}", _p(lat["latency_ms"]), f"{lat['latency_ms']['max']} ms",
                   _p(lat["until_crossing_read_ms"]), _p(lat["crossing_read_to_start_read_ms"]),
                   _p(lat["start_read_to_visible_ms"]), f"{share:.0%}" if share else "n/a"]])
    out += ["", "The three steps are each one's own p50 / p99, so they need not add up to the total's. The poll "
            "interval's share assumes an idle poller (after an empty poll it waits a full interval, so a new record "
            "waits half of one on average, at each hop); while records keep arriving the poller reads again at once, "
            "and the first step's column is the wait actually measured.", "",
            "**32 concurrent spenders crossing at once**: per user, 32 threads spend 50 each from 2,000 together "
            "(one crossing below 500), then, refilled, 60 each from 2,400 (a second crossing). Recharges started are "
            "counted as the `pi_` purchase entries in the user's history and as `recharges_this_month`.", ""]
    out += table(["user", "crossings", "`pi_` purchase entries", "recharges_this_month", "spends refused",
                  "refilled each time", "final available"],
                 [[i + 1, x["crossings"], x["pi_purchase_entries"], x["recharges_this_month"], x["spends_refused"],
                   "yes" if x["refilled_each_time"] else "**no**", f"{x['final_available']:,}"]
                  for i, x in enumerate(once["per_user"])])
    out += ["", f"Exactly one recharge per crossing: {'yes' if once['exactly_one_per_crossing'] else '**NO**'}.", ""]
    return out


def _client(c: dict[str, Any]) -> list[str]:
    v, ratio, cpu = c["variants"], c["ratio_vs"], c["cpu"]
    cfg = c.get("config", {})
    out = ["## Python client overhead", "",
           f"Sequential consumes against a local stack, {cfg.get('rounds')} rounds of {cfg.get('reps')} calls of "
           "each variant, interleaved call by call (`bench/client_overhead.py`): `credits_client.CreditsClient."
           "consume` vs the same request through a raw `httpx.Client` and through a raw `http.client` keep-alive "
           "connection. Then the per-call CPU against an in-memory transport (no server).", ""]
    out += table(["variant", "median", "p90", "mean"],
                 [[k, f"{x['median_ms']:.2f} ms", f"{x['p90_ms']:.2f} ms", f"{x['mean_ms']:.2f} ms"]
                  for k, x in v.items()])
    out += ["", f"Client vs raw httpx: {ratio['raw httpx']['overall']:.3f}× (per-round "
            f"{fmt(ratio['raw httpx']['rounds'], '×', 2)}); vs http.client {ratio['raw http.client']['overall']:.3f}×. "
            f"CPU per call: client {cpu['us_per_call']['client']:.0f} µs, raw httpx "
            f"{cpu['us_per_call']['raw httpx']:.0f} µs (the client's own work: {cpu['client_own_us']:.0f} µs).", ""]
    return out


def cold_section(cold: dict[str, Any]) -> list[str]:
    out = ["## Cold init per handler", "",
           f"Fresh `python` per sample ({cold['reps']} samples per function, round-robin, after one discarded "
           "warm-up each): the clock starts after interpreter start-up and covers importing the function's "
           "`app.py` by file path (as `local/lambda_host.py` and the Lambda runtime do), which also builds its "
           "clients through `credits.bootstrap`. Floor = `import boto3; boto3.client('dynamodb')`. Environment: "
           "TABLE_NAME, DYNAMODB_ENDPOINT_URL, well-formed test Stripe key and webhook secret, DASHBOARD_URL, "
           "dummy AWS credentials, POWERTOOLS_TRACE_DISABLED=true and the template's Globals; .pyc files cached (as "
           "in a built package). **CPU** = process CPU time of the init (used for the targets); **wall** = elapsed "
           "time, inflated when the machine is busy. **× floor**: median over the floor's median; (min–max) = range "
           "of the per-round ratios. **best-of-n** = fastest sample over the floor's fastest (a cross-check).", ""]
    rows = []
    floor_best = min(cold["targets"]["floor"]["cpu_samples_ms"])
    floor_pk = {x["package"] for x in cold["targets"]["floor"]["top_imports"]}
    for name, t in cold["targets"].items():
        extra = ", ".join(f"{x['package']} {x['self_ms']:.0f}" for x in t["top_imports"]
                          if name == "floor" or x["package"] not in floor_pk)
        limit = COLD_TARGETS.get(name)
        rows.append([f"**{name}**" if name == "floor" else name, fmt(t["init_cpu_ms"], " ms", 0),
                     fmt(t["ratio_cpu"], "×", 2), f"{min(t['cpu_samples_ms']) / floor_best:.2f}×",
                     fmt(t["init_wall_ms"], " ms", 0), fmt(t["ratio_wall"], "×", 2),
                     f"≤ {limit}×" if limit else "", extra])
    out += table(["function", "init CPU", "× floor", "best-of-n × floor", "init wall", "× floor", "target",
                  "largest imports not in the floor (self ms, from -X importtime)"], rows)
    return [*out, ""]


def cold_analysis(cold: dict[str, Any], missed_rows: list[dict[str, Any]]) -> list[str]:
    if not missed_rows:
        return []
    floor = cold["targets"]["floor"]
    floor_ms = floor["init_cpu_ms"]["median"]
    floor_pk = {x["package"] for x in floor["top_imports"]}
    missed = [fn for fn in COLD_TARGETS if any(x["target"].startswith(f"cold init {fn} ") for x in missed_rows)]
    out = [f"**cold init** (floor {floor_ms:.0f} ms CPU): "
           + "; ".join(f"{fn} {fmt(cold['targets'][fn]['ratio_cpu'], '×', 2)} against ≤ {COLD_TARGETS[fn]}×"
                       for fn in missed)
           + ". Where the time beyond the floor goes (self time per package not imported by the floor, median of 3 "
           "`-X importtime` runs, and the code that first imports it):", ""]
    for fn in missed:
        t = cold["targets"][fn]
        over = t["init_cpu_ms"]["median"] - floor_ms
        out.append(f"- **{fn}**: {over:.0f} ms over the floor where ≤ {COLD_TARGETS[fn]}× allows "
                   f"{(COLD_TARGETS[fn] - 1) * floor_ms:.0f} ms.")
        for x in t["top_imports"]:
            if x["package"] in floor_pk:
                continue
            note = IMPORT_NOTES.get(x["package"], "")
            out.append(f"  - `{x['package']}` ≈ {x['self_ms']:.0f} ms{': ' + note if note else ''}"
                       f"{'; first imported by `' + x['imported_by'] + '`' if x.get('imported_by') else ''}.")
    out += ["", "The figures vary by ±20–30% between runs on this shared machine (see the per-round range), so a "
            "result within ~0.2× of its limit can flip between runs.", ""]
    return out
