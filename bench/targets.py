"""The targets of `make bench`: PASS/MISS for each, with what was measured and, for a miss, the reason the data give.

``targets(results)`` reads only ``results`` (report.json's content), so a report can be re-rendered from the JSON
(``python -m bench.run --render-only``) and the logic is testable on synthetic data (tests/unit/test_bench_report.py).
A phase that broke gives a MISS row of its own instead of its targets.
"""

from __future__ import annotations

from typing import Any

COLD_TARGETS = {"balance": 1.3, "history": 1.3, "purchase": 1.9, "webhook": 1.9}
CONSUME_TARGET = "consume: 1 DynamoDB request, 0 reads (nothing expired)"
HOT_NAIVE_TARGET = "hot user: throughput ≥ the seed's naive algorithm, 0 overdrafts"
HOT_CEILING_TARGET = "hot user: ≥ 0.7× the bare conditional UpdateItem ceiling"
# Where each phase's results live in report.json, and the phase's name in ``errors`` / ``phases_s``.
PHASES = {
    "op_costs": "requests per operation", "grant_scaling": "requests with 1/10/100 live grants",
    "hot_user": "hot user", "drain": "drain (overdraft check)", "webhooks": "webhooks", "history": "history",
    "events": "events (change path)", "auto_recharge": "auto-recharge", "client_overhead": "client overhead",
}


def _t(target: str, ok: bool, measured: str, why: str = "") -> dict[str, Any]:
    return {"target": target, "pass": bool(ok), "measured": measured, "why": "" if ok else why}


def ops_text(summary: dict[str, Any]) -> str:
    """'1× Query + 1× TransactWriteItems' for a request summary."""
    return " + ".join(f"{n:g}× {op}" for op, n in summary.get("by_operation", {}).items()) or "none"


def _n(summary: dict[str, Any], key: str = "requests") -> str:
    value = summary.get(key)
    return f"{value:g}" if isinstance(value, int | float) else "?"


def _req(n: float) -> str:
    return f"{n:g} request" + ("" if n == 1 else "s")


def _consume(r: dict[str, Any]) -> list[dict[str, Any]]:
    ops = r["op_costs"]
    c = ops["consume"]
    ok = c["requests"] == 1 and c["reads"] == 0
    others = [label for label in ("consume (Idempotency-Key)", "consume (user with a pending hold)") if label in ops]
    measured = (f"{_req(c['requests'])} ({ops_text(c)}), {c['reads']:g} reads, {c['capacity_units']:g} CU; "
                + "; ".join(f"{label[len('consume '):]}: {_req(ops[label]['requests'])}, "
                            f"{ops[label]['reads']:g} reads" for label in others))
    why = f"the consume path issues {ops_text(c)}" if not ok else ""
    if not ok and c["reads"]:
        why += ": a read before or after the write (the fast path is meant to be one conditional write, no read)"
    out = [_t(CONSUME_TARGET, ok, measured, why)]
    scaling = r.get("grant_scaling")
    if scaling:
        sizes = scaling["sizes"]
        rows = {n: v["consume"] for n, v in sizes.items()}
        ok = all(x["requests"] == 1 and x["reads"] == 0 for x in rows.values())
        measured = "; ".join(f"{sizes[n]['live_grants']} live grants: {_req(x['requests'])}, "
                             f"{x['capacity_units']:g} CU" for n, x in rows.items())
        why = "; ".join(f"at {n} grants: {ops_text(x)}" for n, x in rows.items() if x["requests"] != 1 or x["reads"])
        out.append(_t("consume stays 1 request, 0 reads with 1, 10 and 100 live grants", ok, measured, why))
    return out


def _fulfilment(r: dict[str, Any]) -> dict[str, Any]:
    f = r["op_costs"]["purchase fulfilment"]
    before = (r.get("baseline") or {}).get("op_costs", {}).get("fulfilment")
    ok = f["requests"] == 1 and f["reads"] == 0
    by = f["by_operation"]
    why = ""
    if not ok:
        parts = []
        if by.get("GetItem"):
            parts.append(f"{by['GetItem']:g} GetItem: the purchase record, read to verify Stripe's session against "
                         "what was sold before crediting anything")
        if by.get("Query"):
            parts.append(f"{by['Query']:g} Query: the account (balance and book of grants), which the purchase's "
                         "new paid grant is added to; the write is guarded by the account's version")
        if by.get("TransactWriteItems"):
            parts.append(f"{by['TransactWriteItems']:g} TransactWriteItems: grant, entry, balance, book and purchase "
                         "record together")
        why = "; ".join(parts) + (f" (before the grants rebuild: {ops_text(before)})" if before else "")
    return _t("purchase fulfilment: 1 DynamoDB request, 0 reads", ok,
              f"{_req(f['requests'])} ({ops_text(f)}), {f['reads']:g} reads, {f['capacity_units']:g} CU", why)


def _hot(r: dict[str, Any]) -> list[dict[str, Any]]:
    hot, drain = r["hot_user"]["variants"], r.get("drain", {}).get("variants", {})
    ours, naive, ceil = (hot[v]["throughput"]["median"] for v in ("ours", "naive", "ceiling"))
    overdrafts = drain.get("ours", {}).get("overdrawn_total", 0) + max(0, hot["ours"]["credits_lost_total"])
    negative = drain.get("ours", {}).get("negative_final_balance", False)
    out = []
    ok = ours >= naive and overdrafts == 0 and not negative
    why = ""
    if not ok and ours < naive:
        req = hot["ours"].get("requests", {})
        why = (f"ours makes {_n(req)} request(s) per spend ({ops_text(req) if req else '?'}), a "
               "2-item transaction (balance update + ledger entry, the entry also writing GSI1), against the naive "
               f"GetItem + UpdateItem; the naive one is fast because it is wrong (it lost "
               f"{hot['naive']['credits_lost_total']:,} credits"
               + (f" and overdrew {drain['naive']['overdrawn_total']:,}" if "naive" in drain else "") + ")")
    elif not ok:
        why = f"overdrafts {overdrafts}, negative balance seen: {negative}"
    out.append(_t(HOT_NAIVE_TARGET, ok, f"{ours:.0f} vs {naive:.0f} spends/s ({ours / naive:.2f}×), "
                                        f"overdrafts {overdrafts}", why))
    ratio = ours / ceil if ceil else 0.0
    why = ""
    if ratio < 0.7:
        req = hot["ours"].get("requests", {})
        why = (f"each spend is {_n(req)} request(s) ({ops_text(req) if req else '?'}) writing 2 items "
               "in a transaction against the ceiling's 1 item in a plain UpdateItem; writes to one item are "
               "serialised, so the cost per spend on that item sets the throughput")
        raw = hot.get("raw transaction", {}).get("throughput", {}).get("median")
        if raw:
            why += f"; the same transaction sent raw does {raw / ceil:.2f}× the ceiling (ours {ours / raw:.2f}× of it)"
        before = (r.get("baseline") or {}).get("hot_user", {}).get("variants", {})
        if before.get("ours") and before.get("ceiling"):
            b = before["ours"]["throughput"]["median"] / before["ceiling"]["throughput"]["median"]
            wo = before.get("ours, write only", {}).get("throughput", {}).get("median")
            why += (f"; before the grants rebuild ours was {b:.2f}× its ceiling"
                    + (f" (and the same 2-item transaction alone {wo / before['ceiling']['throughput']['median']:.2f}×)"
                       if wo else ""))
    out.append(_t(HOT_CEILING_TARGET, ratio >= 0.7, f"{ours:.0f} vs {ceil:.0f} spends/s = {ratio:.2f}×", why))
    return out


def _history(r: dict[str, Any]) -> list[dict[str, Any]]:
    h = r["history"]
    big = h["big_entries"]
    out = []
    for case in ("first page, limit 25 (default)", "first page, limit 10"):
        c = h["cases"][case]
        ok = c["ratio"] <= 1.2
        n = c["items_returned"]
        why = ""
        if not ok:
            why = (f"the page at {big:,} entries returns {n.get(str(big))} items against {n.get('10')} at 10 (more to "
                   "read, serialise and parse)" if n.get(str(big)) != n.get("10")
                   else "same page size and the same two requests")
            raw = h.get("raw_queries")
            if raw:
                parts = raw["partition_items"]
                why += ("; the same two Queries sent bare: " + ", ".join(f"{k.split(' (')[0]} {c['ratio']:.2f}×"
                                                                         for k, c in raw["cases"].items()
                                                                         if c.get("sent_by_ledger", True))
                        + f" on partitions of {parts['10']:,} vs {parts[str(big)]:,} items (DynamoDB Local)")
        out.append(_t(f"history {case} at {big:,} entries ≤ 1.2× at 10", ok,
                      f"{c[f'at_{big}']['median']:.2f} ms vs {c['at_10']['median']:.2f} ms = {c['ratio']:.2f}×", why))
    return out


def _webhooks(r: dict[str, Any]) -> dict[str, Any]:
    w = r["webhooks"]
    totals: dict[str, int] = {}
    for x in w["rounds_detail"]:
        for k, v in x["outcomes"].items():
            totals[k] = totals.get(k, 0) + v
    bad = [x for x in w["rounds_detail"] if not x["exactly_once"]]
    why = "; ".join(f"credited {x['credits_credited']:,} of {x['credits_expected']:,}, outcomes {x['outcomes']}"
                    for x in bad)
    return _t(f"webhooks with {int(w['duplicate_share'] * 100)}% duplicates: every session credited exactly once",
              w["exactly_once"], ", ".join(f"{k} {v}" for k, v in sorted(totals.items())), why)


def _cold(r: dict[str, Any]) -> list[dict[str, Any]]:
    from bench.stats import fmt

    cold = r["cold_init"]
    out = []
    floor = cold["targets"]["floor"]
    floor_pk = {x["package"] for x in floor["top_imports"]}
    for fn, limit in COLD_TARGETS.items():
        t = cold["targets"][fn]
        ok = t["ratio_cpu"]["median"] <= limit
        extra = [f"{x['package']} {x['self_ms']:.0f} ms" for x in t["top_imports"] if x["package"] not in floor_pk]
        out.append(_t(f"cold init {fn} ≤ {limit}× the boto3 floor", ok,
                      f"{t['init_cpu_ms']['median']:.0f} ms CPU vs {floor['init_cpu_ms']['median']:.0f} ms = "
                      f"{fmt(t['ratio_cpu'], '×', 2)} (wall {t['ratio_wall']['median']:.2f}×)",
                      "import time beyond the floor's: " + ", ".join(extra[:5])))
    return out


def _broken(r: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A MISS row for a phase that was run and broke (None when it ran, or was not asked for)."""
    error = (r.get("errors") or {}).get(PHASES[key])
    if error is None:
        return None
    last = error.strip().splitlines()[-1] if error.strip() else "error"
    return _t(f"{PHASES[key]}: the phase ran", False, "broken", last[:300])


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    sections = [
        ("op_costs", lambda: [*_consume(r), _fulfilment(r)]),
        ("hot_user", lambda: _hot(r)),
        ("history", lambda: _history(r)),
        ("webhooks", lambda: [_webhooks(r)]),
    ]
    for key, make in sections:
        if r.get(key):
            out += make()
        elif (row := _broken(r, key)) is not None:
            out.append(row)
    if r.get("cold_init"):
        out += _cold(r)
    if r.get("events"):
        from bench import events_latency

        out += events_latency.targets(r["events"])
    elif (row := _broken(r, "events")) is not None:
        out.append(row)
    if r.get("auto_recharge"):
        from bench import recharge_latency

        out += recharge_latency.targets(r["auto_recharge"])
    elif (row := _broken(r, "auto_recharge")) is not None:
        out.append(row)
    if r.get("client_overhead"):
        from bench import client_overhead

        out.append(client_overhead.target(r["client_overhead"]))
    elif (row := _broken(r, "client_overhead")) is not None:
        out.append(row)
    for key in ("grant_scaling", "drain"):
        if not r.get(key) and (row := _broken(r, key)) is not None:
            out.append(row)
    return out
