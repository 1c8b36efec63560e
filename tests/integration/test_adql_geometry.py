"""ADQL geometry on pgSphere end to end: the common spatial shapes must use
the GiST index on spoint(radians(ra), radians(dec)) of demo.sources (EXPLAIN
on the real, ANALYZEd demo data, no planner settings touched), geometry
values leave as DALI arrays with their xtypes, /capabilities lists the
geometry functions and UDFs, and hostile queries get clear errors."""

import os
import subprocess

import pytest
import requests

import tsit

SHAPES = {
    "contains_1_eq": "SELECT source_id FROM demo.sources WHERE 1=CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10, 20, 0.5))",
    "contains_eq_1": "SELECT source_id FROM demo.sources WHERE CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10, 20, 0.5)) = 1",
    "distance_lt": "SELECT source_id FROM demo.sources WHERE DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 10, 20)) < 0.5",
    "intersects_point": "SELECT source_id FROM demo.sources WHERE INTERSECTS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10, 20, 0.5)) = 1",
    "contains_polygon": "SELECT source_id FROM demo.sources WHERE 1=CONTAINS(POINT(ra, dec), POLYGON(10, 20, 11, 20, 11, 21))",
    "crossmatch": "SELECT f.field_id, s.source_id FROM demo.fields AS f JOIN demo.sources AS s "
                  "ON 1=CONTAINS(POINT(s.ra, s.dec), CIRCLE(f.ra, f.dec, 0.1))",
}


@pytest.fixture(scope="module")
def meta_file(psql, workdir):
    """The demo's TAP_SCHEMA as a `tapserve adql --meta` file."""
    out = psql.run("SELECT table_name, column_name, datatype, coalesce(arraysize, ''), coalesce(unit, '') "
                   "FROM tap_schema.columns WHERE table_name LIKE 'demo.%' ORDER BY table_name, column_index")
    path = os.path.join(workdir, "demo.adqlmeta")
    with open(path, "w") as f:
        for line in out.splitlines():
            table, col, dt, size, unit = line.split("\t")
            f.write("%s %s %s%s %s\n" % (table, col, dt, "[%s]" % size if size else "", unit))
    return path


def translate(meta_file, adql):
    p = subprocess.run([str(tsit.tapserve_bin()), "adql", "--meta", meta_file, "--translate"],
                       input=adql.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode().strip()


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_spatial_shapes_use_the_index(psql, meta_file, shape):
    sql = translate(meta_file, SHAPES[shape])
    assert "spoint(radians(" in sql
    plan = psql.run("EXPLAIN " + sql)
    assert "sources_spoint" in plan, "%s: no use of the spoint index:\n%s\n%s" % (shape, sql, plan)
    assert "Seq Scan on sources" not in plan, "%s: sequential scan of demo.sources:\n%s" % (shape, plan)


def test_geometry_columns_carry_dali_xtypes(server):
    q = ("SELECT TOP 2 POINT('ICRS', ra, dec) AS p, CIRCLE(ra, dec, 1) AS c, "
         "POLYGON(ra, dec, ra + 1, dec, ra, dec + 1) AS pg, DISTANCE(POINT(ra, dec), POINT(0, 0)) AS d "
         "FROM demo.sources ORDER BY source_id")
    r = server.sync({"LANG": "ADQL", "QUERY": q})
    assert r.status_code == 200, r.text[:400]
    root = tsit.parse_xml(r.content)
    fields = {f.get("name"): f for f in tsit.find_all_local(root, "FIELD")}
    assert (fields["p"].get("datatype"), fields["p"].get("arraysize"), fields["p"].get("xtype")) == ("double", "2", "point")
    assert (fields["c"].get("datatype"), fields["c"].get("arraysize"), fields["c"].get("xtype")) == ("double", "3", "circle")
    assert (fields["pg"].get("datatype"), fields["pg"].get("arraysize"), fields["pg"].get("xtype")) == ("double", "*", "polygon")
    assert fields["d"].get("unit") == "deg" and fields["d"].get("xtype") is None


def test_capabilities_list_geometry_and_udfs(server):
    r = requests.get(server.base + "/capabilities", timeout=30)
    assert r.status_code == 200
    text = r.text
    assert "features-adqlgeo" in text
    for fn in ("POINT", "CIRCLE", "CONTAINS", "INTERSECTS", "DISTANCE", "REGION"):
        assert "<form>%s</form>" % fn in text
    assert "features-udf" in text and "ivo_healpix_index(" in text and "ivo_hasword(" in text


def test_unsupported_coordinate_system_is_refused(server):
    r = server.sync({"LANG": "ADQL", "QUERY": "SELECT source_id FROM demo.sources WHERE 1=CONTAINS(POINT('GALACTIC', ra, dec), CIRCLE('ICRS', 1, 2, 3))"})
    assert r.status_code == 400
    assert "GALACTIC" in r.text and "coordinate system" in r.text


def test_geometry_comparison_is_refused_with_position(server):
    r = server.sync({"LANG": "ADQL", "QUERY": "SELECT source_id FROM demo.sources WHERE POINT(ra, dec) = POINT(1, 2)"})
    assert r.status_code == 400
    assert "line 1, column" in r.text and "geometries cannot be compared" in r.text


HOSTILE = {
    "deep_nesting": "SELECT " + "(" * 5000 + "1" + ")" * 5000 + " FROM demo.sources",
    "long_chain": "SELECT source_id FROM demo.sources WHERE " + " + ".join(["1"] * 20000) + " = 1",
    "huge_query": "SELECT source_id FROM demo.sources WHERE name = '" + "x" * (1024 * 1024) + "'",
    "nul_byte": "SELECT source_id FROM demo.sources WHERE name = 'a\x00b'",
    "ident_injection": 'SELECT "source_id"";DROP TABLE demo.sources;--" FROM demo.sources',
    "string_injection": "SELECT source_id FROM demo.sources WHERE name = 'x'';DROP TABLE demo.sources;--'",
    "region_injection": "SELECT source_id FROM demo.sources WHERE 1=CONTAINS(POINT(ra, dec), REGION('Circle ICRS 1 2 3'');DROP TABLE demo.sources;--'))",
    "unit_injection": "SELECT IN_UNIT(ra, 'deg''); DROP TABLE demo.sources; --') FROM demo.sources",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_queries_get_clear_errors(server, psql, case):
    r = server.sync({"LANG": "ADQL", "QUERY": HOSTILE[case]}, method="POST")
    if case == "string_injection":
        # a well-formed query whose string literal holds the text: no rows
        assert r.status_code == 200, r.text[:300]
    else:
        assert r.status_code in (400, 413), "%s: HTTP %d %s" % (case, r.status_code, r.text[:300])
        assert "QUERY_STATUS" in r.text or "ERROR" in r.text
        assert len(r.text) < 20000
    assert psql.scalar("SELECT count(*) FROM demo.sources") == "50000"


def test_invalid_utf8_is_refused(server):
    body = b"LANG=ADQL&QUERY=SELECT%20source_id%20FROM%20demo.sources%20WHERE%20name%20%3D%20%27%C3%28%27"
    r = requests.post(server.base + "/sync", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"},
                      timeout=30)
    assert r.status_code == 400
    assert "UTF-8" in r.text
