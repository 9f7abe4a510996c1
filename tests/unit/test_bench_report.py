"""bench/targets.py and bench/report.py on synthetic results: the PASS/MISS logic and its explanations."""

from __future__ import annotations

from typing import Any

from bench import recharge_latency, report
from bench.ddbcount import READ_OPERATIONS
from bench.targets import CONSUME_TARGET


def summary(by_operation: dict[str, float], cu: float = 6.0, runs: int = 20) -> dict[str, Any]:
    total = sum(by_operation.values())
    reads = sum(n for op, n in by_operation.items() if op in READ_OPERATIONS)
    return {"runs": runs, "requests": total, "http_attempts": total, "reads": reads, "writes": total - reads,
            "by_operation": by_operation, "capacity_units": cu, "capacity_units_by_operation": {},
            "read_capacity_units": 0.0, "write_capacity_units": 0.0, "errors": {}}


def spread(x: float) -> dict[str, Any]:
    return {"median": x, "min": x, "max": x, "n": 3}


WRITE = {"TransactWriteItems": 1.0}
SLOW = {"GetItem": 1.0, "Query": 1.0, "TransactWriteItems": 1.0}


def results(consume: dict[str, float] = WRITE, **extra: Any) -> dict[str, Any]:
    ops = {label: summary(WRITE) for label in ("consume (Idempotency-Key)", "consume (user with a pending hold)",
                                               "consume replay (same key)", "purchase fulfilment duplicate")}
    ops |= {"consume": summary(consume), "purchase fulfilment": summary(SLOW, cu=7),
            "consume refused (402)": summary({"GetItem": 1.0, "TransactWriteItems": 1.0}),
            "consume (return_balance)": summary({"Query": 1.0, "TransactWriteItems": 1.0}),
            "capture": summary({"GetItem": 1.0, "Query": 2.0, "TransactWriteItems": 1.0}),
            "history page (limit 25)": summary({"Query": 2.0})}
    r: dict[str, Any] = {
        "machine": {"date_utc": "today", "cpu_count": 2, "platform": "linux", "python": "3.12", "packages": {},
                    "git_head": "abc1234", "load_average": [0.5, 0.5, 0.5], "load_average_end": [0.5, 0.5, 0.5]},
        "phases_s": {"total": 300.0},
        "baseline": {"report_commit": "0131f7fabd", "measured_on_git_head": "91cb2d9", "date_utc": "before",
                     "op_costs": {"consume": summary({"GetItem": 1.0, "TransactWriteItems": 1.0}, cu=7),
                                  "fulfilment": summary(WRITE)},
                     "hot_user": {"variants": {
                         "ours": {"throughput": spread(224.0), "p50_ms": spread(130.0), "p99_ms": spread(277.0),
                                  "requests": summary({"GetItem": 1.0, "TransactWriteItems": 1.0})},
                         "ceiling": {"throughput": spread(468.0), "p50_ms": spread(59.0), "p99_ms": spread(189.0),
                                     "requests": summary({"UpdateItem": 1.0})}}}},
        "op_costs": ops,
    }
    r.update(extra)
    return r


def by_target(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for t in report.targets(r)}


def test_a_consume_of_one_write_and_no_read_passes():
    t = by_target(results())[CONSUME_TARGET]
    assert t["pass"] and t["why"] == "" and "1 request (1× TransactWriteItems), 0 reads" in t["measured"]


def test_a_consume_that_reads_misses_and_names_the_read():
    t = by_target(results(consume={"GetItem": 1.0, "TransactWriteItems": 1.0}))[CONSUME_TARGET]
    assert not t["pass"] and "GetItem" in t["why"] and "a read" in t["why"]


def test_consume_with_many_grants_misses_when_one_book_size_adds_a_request():
    scaling = {"reps": 20, "sizes": {
        "1": {"live_grants": 1, "consume": summary(WRITE)},
        "100": {"live_grants": 100, "consume": summary({"Query": 1.0, "TransactWriteItems": 1.0}, cu=12)},
    }}
    t = by_target(results(grant_scaling=scaling))["consume stays 1 request, 0 reads with 1, 10 and 100 live grants"]
    assert not t["pass"] and "at 100 grants" in t["why"] and "at 1 grants" not in t["why"]
    assert "100 live grants: 2 requests, 12 CU" in t["measured"]


def test_fulfilment_of_three_requests_misses_with_each_request_explained_and_the_before_figure():
    t = by_target(results())["purchase fulfilment: 1 DynamoDB request, 0 reads"]
    assert not t["pass"]
    assert "purchase record" in t["why"] and "account" in t["why"] and "before the grants rebuild: 1×" in t["why"]


def recharge(pi_entries: int, this_month: int, refused: int = 0) -> dict[str, Any]:
    lat = {"users": 30, "refilled": 30, "latency_ms": {"p50": 1200.0, "p99": 2000.0, "max": 2100.0},
           "poll_interval_share_of_p50": 0.21, "balance_poll_ms": 100.0, "stream_hops": 2, "poll_interval_ms": 250.0,
           "until_crossing_read_ms": {"p50": 110.0, "p99": 240.0}}
    row = {"crossings": 2, "spends_refused": refused, "refilled_each_time": True,
           "pi_purchase_entries": pi_entries, "recharges_this_month": this_month, "final_available": 2480}
    return {"refill_latency": lat, "concurrent_crossings": {
        "per_user": [row], "exactly_one_per_crossing": pi_entries == 2 == this_month and refused == 0}}


def test_recharges_are_exactly_one_per_crossing_only_when_both_counts_match_the_crossings():
    name = "auto-recharge: 32 concurrent spenders crossing start exactly 1 recharge per crossing"
    assert {t["target"]: t for t in recharge_latency.targets(recharge(2, 2))}[name]["pass"]
    twice = {t["target"]: t for t in recharge_latency.targets(recharge(3, 3))}[name]
    assert not twice["pass"] and "3 pi_ entries / 3 this month for 2 crossings" in twice["measured"]


def test_a_broken_phase_is_a_miss_with_its_error_and_its_targets_are_not_claimed():
    r = results(errors={"auto-recharge": "Traceback (most recent call last):\nRuntimeError: pay: 402"})
    t = by_target(r)
    assert not t["auto-recharge: the phase ran"]["pass"]
    assert t["auto-recharge: the phase ran"]["why"] == "RuntimeError: pay: 402"
    assert not any(k.startswith("auto-recharge: 32") for k in t)


def test_the_report_shows_the_before_column_next_to_this_run():
    hot = {"threads": 32, "seconds_per_round": 2.5, "rounds": 3, "variants": {
        name: {"throughput": spread(x), "p50_ms": spread(50.0), "p99_ms": spread(90.0), "spends_ok_total": 900,
               "credits_lost_total": 0, "errors": 0, "rounds": [], "requests": summary(WRITE)}
        for name, x in (("ours", 300.0), ("naive", 310.0), ("ceiling", 400.0))}}
    r = results(hot_user=hot)
    r["targets"] = report.targets(r)
    md = report.markdown(r)
    row = next(line for line in md.splitlines() if line.startswith("| ours |"))
    assert "224/s" in row and "300/s" in row and "0.48×" in row and "0.75×" in row
    assert "different runs" in md and "0131f7f" in md


def history(account_ratio: float, entries_ratio: float) -> dict[str, Any]:
    def case(ratio: float, small: int, big: int, sent: bool) -> dict[str, Any]:
        return {"at_10": spread(4.0), "at_10000": spread(4.0 * ratio), "ratio": ratio,
                "items_returned": {"10": small, "10000": big}, "sent_by_ledger": sent}

    return {"big_entries": 10_000, "seed_seconds": 30.0, "seed_rate_per_s": 300.0, "reps": 30,
            "cases": {"first page, limit 25 (default)": case(1.5, 11, 25, True),
                      "first page, limit 10": case(1.0, 10, 10, True)},
            "cursor_page_limit_5": {"page_2_at_10": spread(4.0), "at_depth": {}, "ratio_at_depth": {}},
            "raw_queries": {"partition_items": {"10": 36, "10000": 20_096}, "cases": {
                # listed out of order on purpose: the report must pick the ledger's Queries by their flag
                "entries written as begins_with": case(2.5, 11, 26, False),
                "account": case(account_ratio, 2, 2, True),
                "entries": case(entries_ratio, 11, 26, True)}}}


def analysis(r: dict[str, Any]) -> str:
    r["targets"] = report.targets(r)
    md = report.markdown(r)
    return next(line for line in md.splitlines() if line.startswith("**history:**"))


def test_a_history_miss_blames_the_local_engine_only_when_the_same_items_take_longer():
    text = analysis(results(history=history(account_ratio=1.6, entries_ratio=1.1)))
    assert "returns the same 2 items for both users" in text and "local engine" in text
    assert "2.50× on the big partition" in text  # the begins_with case, named as such
    assert "begins_with" not in by_target(results(history=history(1.6, 1.1)))[
        "history first page, limit 25 (default) at 10,000 entries ≤ 1.2× at 10"]["why"]


def test_a_history_miss_from_a_bigger_page_says_so_instead_of_blaming_the_engine():
    text = analysis(results(history=history(account_ratio=1.0, entries_ratio=1.3)))
    assert "returns 26 items for the big user against 11" in text and "local engine" not in text


def test_the_history_section_states_the_small_users_page_from_the_data():
    r = results(history=history(1.0, 1.0))
    r["targets"] = report.targets(r)
    assert "The small user's whole history is 11 items" in report.markdown(r)


def test_the_usage_section_shows_local_and_computed_write_units_per_row():
    from bench.opcosts import USAGE_LABELS

    rows = {label: {"requests": 2, "by_operation": {"Query": 1, "TransactWriteItems": 1}, "capacity_units": 2,
                    "transaction_write_units": 4 + i, "errors": {}} for i, label in enumerate(USAGE_LABELS)}
    text = "\n".join(report._usage_costs({"packed_bytes": {"quiet": 166, "busy": 12_184}, "rows": rows}))
    assert "the busy one 12,184" in text
    for i, label in enumerate(USAGE_LABELS):
        assert f"| {label} | 2 | Query + TransactWriteItems | 2 | {4 + i} |  |" in text


def test_item_bytes_counts_names_and_values_as_dynamodb_does():
    from bench.opcosts import _item_bytes

    assert _item_bytes({"PK": {"S": "USER#é"}, "v": {"N": "12345"}}) == 2 + 7 + 1 + 4
    assert _item_bytes({"n": {"N": "-1"}, "m": {"N": "10"}}) == 1 + 2 + 1 + 2
