"""Reference: warm the server up, load-test it at the prescribed concurrency, then profile
engine steps under the same load (separately: the profiler slows what it watches), and split
each request's latency into queue (from Server-Timing) and the step's stages (from the
profile)."""

from __future__ import annotations

import json
import statistics
import urllib.request

from loadgen import run_load

STAGES = ("preprocess", "model", "serialize")


def diagnose(base_url):
    run_load(base_url, requests=12, concurrency=4)  # the first request pays a one-time setup
    samples = run_load(base_url, requests=160, concurrency=4)
    _call(base_url + "/debug/profile/start", {"steps": 20})
    run_load(base_url, requests=100, concurrency=4)
    profile = _call(base_url + "/debug/profile")
    ranges = profile["ranges_ms"]
    fractions = {stage: ranges.get(stage, 0.0) / ranges["engine.step"] for stage in STAGES}

    timings = [s.server_timing_ms for s in samples]
    app_share = [t["app"] / (t["queue"] + t["app"]) for t in timings]
    shares = {
        "queue": 100 * statistics.median(t["queue"] / (t["queue"] + t["app"]) for t in timings)
    }
    for stage in STAGES:
        shares[stage] = 100 * fractions[stage] * statistics.median(app_share)
    component = max(shares, key=shares.get)
    return component, shares[component]


def _call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=60) as response:
        return json.loads(response.read())
