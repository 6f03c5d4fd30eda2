"""serve-and-profile: which component dominates a request's latency under load, and by how much?

Write diagnose(base_url) -> (component, p50_share_pct):
  * base_url is the running inference server, e.g. "http://127.0.0.1:41234";
  * component is one of "queue", "preprocess", "model", "serialize";
  * p50_share_pct is the median over requests of that component's share of the request's
    latency (queue + the step's preprocess + model + serialize), in percent.

The server answers POST /predict; every response carries a Server-Timing header
(queue;dur=..., app;dur=...). POST /debug/profile/start {"steps": N} profiles the next N engine
steps with torch.profiler; GET /debug/profile returns the stage ranges and the table.
loadgen.run_load(base_url, requests=..., concurrency=4) is the load generator (see loadgen.py).
Run `python serve.py` in your workspace to start your own copy of the server and explore.
"""

from __future__ import annotations

from loadgen import run_load


def diagnose(base_url):
    samples = run_load(base_url, requests=20, concurrency=4)
    print(f"{len(samples)} requests; the first one's Server-Timing: {samples[0].server_timing_ms}")
    # TODO: read each sample's server_timing_ms, profile the engine steps, and work out which
    # component takes the largest median share of a request's latency.
    return "TODO", 0.0
