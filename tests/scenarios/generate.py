#!/usr/bin/env python3
"""Writes the scenario snapshots and their expected plans.

Each scenario folder holds policy.yaml, snapshot.json and expected.json. The
expected split keys are computed here with the midpoint formula
start + (end - start) // 2 + 1 (Python integers, no 128-bit limit), not by
running the planner, so the test checks the planner against an independent
statement of what it must do. Run from anywhere: python3 generate.py
"""
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MAX = 2**128 - 1
MIB = 1048576
MINUTES = 40  # series length; with observed_at 02:00 and start 01:20 and a
              # 2-minute delay, minutes 0..37 are complete, 38 and 39 are not
START = "2026-11-26T01:20:00Z"
OBSERVED = "2026-11-26T02:00:00Z"

DEFAULT_POLICY = """version: 1
streams:
  - name: {name}
    scale_down: {{ window: 30m }}   # the snapshot holds 40 minutes
"""


def mid(s, e):
    return s + (e - s) // 2 + 1


def uniform(n):
    step = 2**128 // n  # as Kinesis lays out a new stream
    out = []
    for i in range(n):
        s = i * step
        e = MAX if i == n - 1 else (i + 1) * step - 1
        out.append((s, e))
    return out


def shard(n, r, open_=True, parent=None):
    return {
        "shard_id": f"shardId-{n:012d}",
        "starting_hash_key": str(r[0]),
        "ending_hash_key": str(r[1]),
        "parent_shard_id": parent,
        "adjacent_parent_shard_id": None,
        "open": open_,
    }


def load(util, seed=0.0, missing=(), throttled=0.0, record_size=1500):
    """Per-minute series at `util` of the byte limit, gently wobbling."""
    b, r, t = [], [], []
    for i in range(MINUTES):
        if i in missing:
            b.append(None); r.append(None); t.append(None)
            continue
        u = util * (1 + 0.02 * math.sin(i * 0.9 + seed))
        by = round(u * 60 * MIB)
        b.append(float(by))
        r.append(float(round(by / record_size)))
        t.append(float(throttled))
    return {"IncomingBytes": b, "IncomingRecords": r,
            "WriteProvisionedThroughputExceeded": t}


def records_load(util, throttled):
    """Records-bound load (100-byte records) with throttling each minute."""
    rec = util * 60 * 1000
    return {"IncomingBytes": [rec * 100.0] * MINUTES,
            "IncomingRecords": [rec] * MINUTES,
            "WriteProvisionedThroughputExceeded": [float(throttled)] * MINUTES}


def totals(loads, missing=()):
    """Stream-level series: the per-minute sums of every shard's load,
    lost datapoints included (the stream-level metric still counts them),
    with the stream-level datapoints of `missing` minutes lost too."""
    out = {}
    for name in ("IncomingBytes", "IncomingRecords"):
        series = []
        for i in range(MINUTES):
            values = [l[name][i] for l in loads]
            if i in missing:
                series.append(None)
            else:
                series.append(float(sum(v for v in values if v is not None)))
        out[name] = series
    return out


def without(series_by_name, minutes):
    """The series with the datapoints of `minutes` lost."""
    return {k: [None if i in minutes else v for i, v in enumerate(vs)]
            for k, vs in series_by_name.items()}


def write(name, shards, metrics, expected, policy=None, status="ACTIVE",
          mode="PROVISIONED", history=None, stream="orders", stream_level=None,
          start=START):
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    m = {"start": start, "period_seconds": 60}
    if stream_level is not None:
        m["stream"] = stream_level
    m["shards"] = metrics
    snap = {
        "stream_name": stream, "stream_status": status, "stream_mode": mode,
        "observed_at": OBSERVED, "shards": shards,
        "metrics": m,
        "history": history or {"last_scale_up": None, "last_scale_down": None},
    }
    with open(os.path.join(folder, "snapshot.json"), "w") as f:
        json.dump(snap, f, indent=1)
        f.write("\n")
    with open(os.path.join(folder, "policy.yaml"), "w") as f:
        f.write(policy or DEFAULT_POLICY.format(name=stream))
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")


def split(shard_id, r, trigger):
    return {"type": "split", "shard_id": shard_id, "starting_hash_key": str(r[0]),
            "ending_hash_key": str(r[1]), "new_starting_hash_key": str(mid(*r)),
            "trigger": trigger}


def merge(a, b, ra, rb, trigger="cold"):
    return {"type": "merge", "shard_id": a, "adjacent_shard_id": b,
            "starting_hash_key": str(ra[0]), "adjacent_starting_hash_key": str(rb[0]),
            "ending_hash_key": str(rb[1]), "trigger": trigger}


def sid(n):
    return f"shardId-{n:012d}"


def main():
    u4 = uniform(4)

    # A hot shard that does not start at zero is split at its own midpoint.
    write("hot-shard-split",
          [shard(i, r) for i, r in enumerate(u4)],
          {sid(0): load(0.5), sid(1): load(0.45, 1), sid(2): load(0.92, 2), sid(3): load(0.5, 3)},
          {"exit_code": 0, "open_shards_after": 5,
           "actions": [split(sid(2), u4[2], "utilization")],
           "verdicts": ["steady", "steady", "split", "steady"]})

    # Two cold neighbours merge; the cold shard next to a warm one stays.
    write("cold-pair-merge",
          [shard(i, r) for i, r in enumerate(u4)],
          {sid(0): load(0.5), sid(1): load(0.1, 1), sid(2): load(0.12, 2), sid(3): load(0.2, 3)},
          {"exit_code": 0, "open_shards_after": 3,
           "actions": [merge(sid(1), sid(2), u4[1], u4[2])],
           "verdicts": ["steady", "merge", "merge", "steady"]})

    # Throttling shows demand of 2.5 shards (records-bound at 100% plus 1.5x
    # as many throttled): 3.125x the 0.8 threshold, so the shard is split
    # and both halves split again (1.56x each); quarters are at 0.78x.
    full = (0, MAX)
    lo, hi = (0, mid(*full) - 1), (mid(*full), MAX)
    write("throttled-deep-split",
          [shard(0, full)],
          {sid(0): records_load(1.0, 90000)},
          {"exit_code": 0, "open_shards_after": 4,
           "actions": [split(sid(0), full, "utilization"),
                       split(None, lo, "utilization"),
                       split(None, hi, "utilization")],
           "verdicts": ["split"]})

    # A stream resharded before: closed parents are listed, the open layout
    # is uneven, and the narrow hot shard (a hot key's neighbourhood) is
    # split once the cooldown has passed.
    half = mid(0, MAX)
    q = mid(0, half - 1)
    e = mid(0, q - 1)
    layout = [(0, e - 1), (e, q - 1), (q, half - 1), (half, MAX)]
    closed = [shard(0, full, False), shard(1, (0, half - 1), False, sid(0)),
              shard(3, (0, q - 1), False, sid(1))]
    opened = [shard(5, layout[0], True, sid(3)), shard(6, layout[1], True, sid(3)),
              shard(4, layout[2], True, sid(1)), shard(2, layout[3], True, sid(0))]
    write("uneven-layout-hot-narrow-shard",
          closed + opened,
          {sid(5): load(0.4), sid(6): load(0.97, 1, throttled=250), sid(4): load(0.5, 2), sid(2): load(0.6, 3)},
          {"exit_code": 0, "open_shards_after": 5,
           "actions": [split(sid(6), layout[1], "utilization")],
           "verdicts": ["steady", "split", "steady", "steady"]},
          history={"last_scale_up": "2026-11-26T01:50:00Z", "last_scale_down": None})

    # Cold everywhere, but one shard lost 4 datapoints of its scale-down
    # window, and the stream-level series lost the same minutes: nothing
    # bounds what it took then. 26 of 30 minutes is under the 27 that
    # max_missing (10%) asks for, so only the other pair merges.
    gaps = (14, 18, 22, 26)
    loads = [load(0.05), load(0.05, 1), load(0.05, 2), load(0.05, 3)]
    write("missing-data-no-merge",
          [shard(i, r) for i, r in enumerate(u4)],
          {sid(0): loads[0], sid(1): without(loads[1], gaps), sid(2): loads[2], sid(3): loads[3]},
          {"exit_code": 0, "open_shards_after": 3,
           "actions": [merge(sid(2), sid(3), u4[2], u4[3])],
           "verdicts": ["steady", "not_enough_data", "merge", "merge"]},
          stream_level=totals(loads, missing=gaps))

    # Shard 1 took no records, so CloudWatch published no datapoint for it;
    # the stream-level series account for every record the others took.
    # It is idle, not unknown, and merges with its cold neighbour.
    loads = [load(0.05), load(0.5, 2), load(0.5, 3)]
    write("idle-shard-merge",
          [shard(i, r) for i, r in enumerate(u4)],
          {sid(0): loads[0], sid(2): loads[1], sid(3): loads[2]},
          {"exit_code": 0, "open_shards_after": 3,
           "actions": [merge(sid(0), sid(1), u4[0], u4[1])],
           "verdicts": ["merge", "merge", "steady", "steady"],
           "metrics": {"state": "newest", "minute": "2026-11-26T01:57:00Z",
                       "lag_seconds": 120}},
          stream_level=totals(loads))

    # CloudWatch is 5 minutes late: the newest 3 complete minutes have no
    # datapoint anywhere. The windows end at the newest minute with data, so
    # the cold pair still merges, and the plan reports the lag.
    late = tuple(range(35, 40))
    loads = [without(load(0.05, i), late) for i in range(2)]
    write("late-cloudwatch-merge",
          [shard(i, r) for i, r in enumerate(uniform(2))],
          {sid(0): loads[0], sid(1): loads[1]},
          {"exit_code": 0, "open_shards_after": 1,
           "actions": [merge(sid(0), sid(1), uniform(2)[0], uniform(2)[1])],
           "verdicts": ["merge", "merge"],
           "metrics": {"state": "newest", "minute": "2026-11-26T01:54:00Z",
                       "lag_seconds": 300}},
          stream_level=totals(loads, missing=late))

    # No datapoint for the last 20 minutes: more than metrics.max_lag (15m).
    # CloudWatch is that late, or the stream stopped: nothing is planned.
    stale = tuple(range(20, 40))
    loads = [without(load(0.95, i), stale) for i in range(2)]
    write("stale-metrics-refused",
          [shard(i, r) for i, r in enumerate(uniform(2))],
          {sid(0): loads[0], sid(1): loads[1]},
          {"exit_code": 0, "open_shards_after": 2, "actions": [],
           "verdicts": ["skipped", "skipped"],
           "refused": {"why": "metrics_late", "newest_minute": "2026-11-26T01:39:00Z",
                       "lag_seconds": 1200, "max_lag_seconds": 900}},
          stream_level=totals(loads, missing=stale))

    # Hot, but split 3 minutes ago: the cooldown holds it back.
    write("split-cooldown",
          [shard(i, r) for i, r in enumerate(uniform(2))],
          {sid(0): load(0.95), sid(1): load(0.3, 1)},
          {"exit_code": 0, "open_shards_after": 2, "actions": [],
           "verdicts": ["cooling_down", "steady"]},
          history={"last_scale_up": "2026-11-26T01:57:00Z", "last_scale_down": None})

    # An ON_DEMAND stream is skipped, whatever its load.
    write("on-demand-skipped",
          [shard(i, r) for i, r in enumerate(uniform(2))],
          {sid(0): load(0.95), sid(1): load(0.95, 1)},
          {"exit_code": 0, "open_shards_after": 2, "actions": [],
           "verdicts": ["skipped", "skipped"]},
          mode="ON_DEMAND")

    # Below min_shards: the widest shards are split, cooldown or not.
    policy = "version: 1\nstreams:\n  - name: orders\n    min_shards: 4\n"
    write("below-min-shards",
          [shard(0, full)],
          {sid(0): load(0.1)},
          {"exit_code": 0, "open_shards_after": 4,
           "actions": [split(sid(0), full, "min_shards"),
                       split(None, lo, "min_shards"),
                       split(None, hi, "min_shards")],
           "verdicts": ["split"]},
          policy=policy,
          history={"last_scale_up": "2026-11-26T01:59:00Z", "last_scale_down": None})

    # A glob entry governs the stream; its override lowers the threshold.
    policy = ("version: 1\nstreams:\n  - name: orders\n  - name: \"clicks-*\"\n"
              "    scale_up: { threshold: 0.6 }\n    scale_down: { merged_ceiling: 0.5, window: 30m }\n")
    write("glob-override",
          [shard(i, r) for i, r in enumerate(uniform(2))],
          {sid(0): load(0.65), sid(1): load(0.4, 1)},
          {"exit_code": 0, "open_shards_after": 3,
           "actions": [split(sid(0), uniform(2)[0], "utilization")],
           "verdicts": ["split", "steady"]},
          policy=policy, stream="clicks-eu")

    # Two open shards overlap: the planner refuses to act and exits 1.
    a = (0, half + 10)
    b = (half, MAX)
    write("overlapping-layout-refused",
          [shard(0, a), shard(1, b)],
          {sid(0): load(0.95), sid(1): load(0.95, 1)},
          {"exit_code": 1, "open_shards_after": 2, "actions": [],
           "verdicts": ["skipped", "skipped"],
           "refused": {"why": "broken_layout", "problems": [
               {"problem": "overlap", "from": str(half), "to": str(half + 10),
                "shards": [sid(0), sid(1)]}]}})


if __name__ == "__main__":
    main()
