# Measures correctly but reports the second-largest component (reads the wrong row of its ranking).
import json
import statistics
import urllib.request

from loadgen import run_load


def diagnose(base_url):
    run_load(base_url, requests=12, concurrency=4)
    samples = run_load(base_url, requests=160, concurrency=4)
    _call(base_url + "/debug/profile/start", {"steps": 20})
    run_load(base_url, requests=100, concurrency=4)
    ranges = _call(base_url + "/debug/profile")["ranges_ms"]
    timings = [s.server_timing_ms for s in samples]
    app_share = statistics.median(t["app"] / (t["queue"] + t["app"]) for t in timings)
    shares = {
        "queue": 100 * statistics.median(t["queue"] / (t["queue"] + t["app"]) for t in timings)
    }
    for stage in ("preprocess", "model", "serialize"):
        shares[stage] = 100 * ranges.get(stage, 0.0) / ranges["engine.step"] * app_share
    ranked = sorted(shares, key=shares.get, reverse=True)
    return ranked[1], shares[ranked[1]]


def _call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=60) as response:
        return json.loads(response.read())
