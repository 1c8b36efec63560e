"""/metrics: the Prometheus text exposition format 0.0.4, read by the
prometheus_client parser and checked line by line against the format's
grammar; values move as traffic passes (requests by resource family and
status class, latency histograms, rows streamed, jobs per phase from the
database); the allow-list and the switch; the instance id on log lines."""

import math
import re

import requests
from prometheus_client.parser import text_string_to_metric_families

import tsit

# The text format, strictly: comments are HELP or TYPE lines, samples are
# name{label="value",...} value, with names and label names from the
# grammar and values Go's float syntax.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)"
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)\})? (%s)$" % (NAME, LABEL, LABEL, VALUE))
HELP = re.compile(r"^# HELP (%s) [^\n]*$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)


def scrape(srv):
    r = requests.get("http://127.0.0.1:%d/metrics" % srv.port, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    return r.text


def strict(text):
    """{(name, frozenset(labels)): value}, after checking every line and
    that each sample belongs to a family declared (HELP then TYPE) before
    it, once."""
    assert text.endswith("\n")
    types, samples, helped = {}, {}, set()
    for line in text[:-1].split("\n"):
        m = HELP.match(line)
        if m:
            assert m.group(1) not in helped, line
            helped.add(m.group(1))
            continue
        m = TYPE.match(line)
        if m:
            assert m.group(1) in helped and m.group(1) not in types, line
            types[m.group(1)] = m.group(2)
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert base in types and (base == name or types[base] == "histogram"), line
        labels = frozenset(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        key = (name, labels)
        assert key not in samples, "sample twice: %r" % line
        samples[key] = float(m.group(3))
    # The reference parser reads the same document.
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert "tapserve_http_requests" in fams or "tapserve_http_requests_total" in fams
    return samples


def get(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_move_with_traffic(start_server, psql):
    srv = start_server({"metrics.allow": "127.0.0.1, ::1", "jobs.heartbeat": "1"})
    before = strict(scrape(srv))
    rows = 0
    for n in (3, 7, 11):
        r = srv.sync({"LANG": "ADQL", "QUERY": "SELECT TOP %d source_id FROM demo.sources" % n,
                      "RESPONSEFORMAT": "csv"})
        assert r.status_code == 200
        rows += len(r.text.splitlines()) - 1
    assert rows == 21
    bad = srv.sync({"LANG": "ADQL", "QUERY": "SELECT nope FROM demo.sources"})
    assert bad.status_code == 400
    assert requests.get(srv.base + "/availability", timeout=10).status_code == 200
    after = strict(scrape(srv))

    def moved(name, **labels):
        return get(after, name, **labels) - get(before, name, **labels)

    assert moved("tapserve_http_requests_total", resource="sync", code="2xx") == 3
    assert moved("tapserve_http_requests_total", resource="sync", code="4xx") == 1
    assert moved("tapserve_http_requests_total", resource="vosi", code="2xx") == 1
    # The scrape before this one counts once it has ended.
    assert moved("tapserve_http_requests_total", resource="metrics", code="2xx") == 1
    assert moved("tapserve_rows_streamed_total") == 21
    assert moved("tapserve_http_request_duration_seconds_count", resource="sync", code="2xx") == 3
    assert moved("tapserve_http_response_bytes_total", resource="sync") >= len(bad.content) + 3 * 10
    # Buckets are cumulative and end with +Inf = _count.
    bounds = sorted(
        (float(dict(k[1])["le"]), v) for k, v in after.items()
        if k[0] == "tapserve_http_request_duration_seconds_bucket"
        and ("resource", "sync") in k[1] and ("code", "2xx") in k[1])
    assert bounds[-1][0] == math.inf and len(bounds) > 5
    assert all(a[1] <= b[1] for a, b in zip(bounds, bounds[1:]))
    assert bounds[-1][1] == get(after, "tapserve_http_request_duration_seconds_count", resource="sync", code="2xx")

    # Instance state, and the whole cluster's jobs from the database.
    assert get(after, "tapserve_available") == 1 and get(after, "tapserve_draining") == 0
    assert 0 <= get(after, "tapserve_heartbeat_age_seconds") < 10
    assert get(after, "tapserve_uptime_seconds") > 0
    assert get(after, "tapserve_db_pool_size") == 4
    info = [dict(k[1]) for k in after if k[0] == "tapserve_build_info"]
    assert len(info) == 1 and re.fullmatch(r"[0-9a-f-]{36}", info[0]["instance"]), info
    jobs = {dict(k[1])["phase"]: v for k, v in after.items() if k[0] == "tapserve_jobs"}
    want = dict(line.split("\t") for line in psql.run(
        "SELECT phase, count(*) FROM tapserve.jobs GROUP BY phase").splitlines())
    assert jobs == {p: float(n) for p, n in want.items()}

    # Every log line names the instance (the first 8 characters of its uuid)
    # once it is known.
    short = info[0]["instance"][:8]
    lines = srv.log_path.read_text(errors="replace").splitlines()
    first = next(i for i, l in enumerate(lines) if "jobs: instance" in l)
    tagged = [l for l in lines[first:] if re.match(r"\d{4}-\d\d-\d\dT", l)]
    assert tagged and all(l.split(" ")[2] == short for l in tagged), tagged[:3]


def test_metrics_allow_and_switch(start_server):
    elsewhere = start_server({"metrics.allow": "10.1.2.3"})
    r = requests.get("http://127.0.0.1:%d/metrics" % elsewhere.port, timeout=30)
    assert r.status_code == 403 and "allow" in r.text
    off = start_server({"metrics.enabled": "no"})
    r = requests.get("http://127.0.0.1:%d/metrics" % off.port, timeout=30)
    assert r.status_code == 404
