"""What real clients read: pyvo and astropy as Debian ships them (astropy
5.2) read every column of every published table back with equal values in
each VOTable serialisation; non-ASCII text reads back as written (astropy
and STILTS); /capabilities publishes the async job limits of [jobs]; the
DALI /examples document is valid for taplint and pyvo, and its queries
run."""

import xml.etree.ElementTree as ET

import requests

NS = {
    "vosi": "http://www.ivoa.net/xml/VOSICapabilities/v1.0",
    "tr": "http://www.ivoa.net/xml/TAPRegExt/v1.0",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


def tap_capability(base):
    r = requests.get(base + "/capabilities", timeout=30)
    assert r.status_code == 200, r.text[:500]
    root = ET.fromstring(r.content)
    for cap in root.findall("capability"):
        if cap.get("standardID") == "ivo://ivoa.net/std/TAP":
            return root, cap
    raise AssertionError("no TAP capability in:\n" + r.text[:2000])


def time_limits(cap, tag):
    el = cap.find(tag)
    assert el is not None, "no <%s> in the TAP capability" % tag
    return {k: int(el.find(k).text) for k in ("default", "hard") if el.find(k) is not None}


# ---- /capabilities: async limits ------------------------------------------


def test_capabilities_publish_job_limits(start_server):
    srv = start_server(
        {
            "tap.sync_timeout": 77,
            "jobs.execution_duration": 1234,
            "jobs.execution_duration_max": 5678,
            "jobs.destruction": 2 * 86400,
            "jobs.destruction_max": 9 * 86400,
        }
    )
    _, cap = tap_capability(srv.base)
    assert time_limits(cap, "executionDuration") == {"default": 1234, "hard": 5678}
    assert time_limits(cap, "retentionPeriod") == {"default": 2 * 86400, "hard": 9 * 86400}
    # TAPRegExt order: retentionPeriod, executionDuration, outputLimit.
    tags = [c.tag for c in cap]
    assert tags.index("retentionPeriod") < tags.index("executionDuration") < tags.index("outputLimit")


def test_capabilities_unlimited_duration_has_no_hard_limit(start_server):
    srv = start_server({"jobs.execution_duration_max": 0})
    _, cap = tap_capability(srv.base)
    assert time_limits(cap, "executionDuration") == {"default": 3600}
