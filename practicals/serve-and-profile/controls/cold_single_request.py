# Profiles a single request on the cold server, so a one-time setup cost looks like the steady-state bottleneck.
import json
import urllib.request

from loadgen import run_load


def diagnose(base_url):
    _call(base_url + "/debug/profile/start", {"steps": 1})
    sample = run_load(base_url, requests=1, concurrency=1)[0]
    ranges = _call(base_url + "/debug/profile")["ranges_ms"]
    queue, app = sample.server_timing_ms["queue"], sample.server_timing_ms["app"]
    shares = {"queue": 100 * queue / (queue + app)}
    for stage in ("preprocess", "model", "serialize"):
        shares[stage] = 100 * ranges.get(stage, 0.0) / ranges["engine.step"] * app / (queue + app)
    component = max(shares, key=shares.get)
    return component, shares[component]


def _call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=60) as response:
        return json.loads(response.read())
