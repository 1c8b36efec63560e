"""IVOA conformance: every XML document the service produces validates
against its schema (xsdcheck.sh: xmllint with the IVOA XSDs, offline), and
STILTS taplint finds no error."""

import os

import pytest
import requests

import tsit

Q = "SELECT TOP 20 * FROM demo.sources ORDER BY source_id"


def fetch(srv, path, params=None):
    return requests.get(srv.base + path, params=params, timeout=60)


DOCS = {
    "capabilities": ("/capabilities", None, 200),
    "availability": ("/availability", None, 200),
    "tables": ("/tables", None, 200),
    "table-demo.sources": ("/tables/demo.sources", None, 200),
    "result-tabledata": ("/sync", {"LANG": "ADQL", "QUERY": Q, "RESPONSEFORMAT": "votable/td"}, 200),
    "result-binary2": ("/sync", {"LANG": "ADQL", "QUERY": Q, "RESPONSEFORMAT": "votable/b2"}, 200),
    "result-overflow": ("/sync", {"LANG": "ADQL", "QUERY": Q, "MAXREC": "3", "RESPONSEFORMAT": "votable/td"}, 200),
    "result-maxrec0": ("/sync", {"LANG": "ADQL", "QUERY": Q, "MAXREC": "0"}, 200),
    "result-tap-schema": ("/sync", {"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_SCHEMA.columns"}, 200),
    "error-document": ("/sync", {"LANG": "ADQL", "QUERY": "SELECT * FROM demo.nosuchtable"}, 400),
    "error-syntax": ("/sync", {"LANG": "ADQL", "QUERY": "SELECT FROM"}, 400),
}


@pytest.mark.parametrize("name", list(DOCS))
def test_xsd_valid(server, workdir, name):
    assert tsit.XSDCHECK.is_file(), "xsdcheck.sh not found at %s" % tsit.XSDCHECK
    path, params, status = DOCS[name]
    r = fetch(server, path, params)
    assert r.status_code == status, "%s: HTTP %d %s" % (path, r.status_code, r.text[:500])
    doc = os.path.join(workdir, "xsd-%s.xml" % name)
    with open(doc, "wb") as f:
        f.write(r.content)
    rc, out = tsit.run_tool(["bash", str(tsit.XSDCHECK), doc], timeout=120)
    assert rc == 0 and out.startswith("OK "), "\n".join(out.splitlines()[:15])


def test_overflow_document_really_overflows(server):
    # guard for the xsd test above: its document must hold the OVERFLOW INFO
    path, params, _ = DOCS["result-overflow"]
    root = tsit.parse_xml(fetch(server, path, params).content)
    assert tsit.overflow_after_table(root)


def test_taplint(server, workdir):
    assert tsit.TAPLINT.is_file(), "taplint.sh not found at %s" % tsit.TAPLINT
    report = os.path.join(workdir, "taplint-report.txt")
    env = dict(os.environ, STAGES="TMV TME TMS TMC CPV CAP AVV QGE QPO", TIMEOUT="240")
    rc, out = tsit.run_tool(["bash", str(tsit.TAPLINT), server.base, report], timeout=300, env=env)
    errors = ""
    if os.path.exists(report):
        with open(report, errors="replace") as f:
            errors = "\n".join(line.rstrip() for line in f if line.startswith("E-"))
    assert rc == 0 and "errors=0" in out, "taplint rc=%d\n%s\nerror lines:\n%s" % (rc, out, errors)
