"""Uploads sent by real clients: astroquery's TapPlus (launch_job and
launch_job_async with a VOTable file), STILTS tapquery (nupload=1) and
tapskymatch (a crossmatch of an uploaded VOTable against demo.sources),
each compared with the same join done in psql."""

import csv
import io
import os
import subprocess

import pytest

from test_upload import JOIN, list_rows, psql_join, until, upload_tables, votable_of


@pytest.fixture(scope="module")
def list_file(psql, workdir):
    """The list (300 demo sources, columns sid, ra, dec) as a VOTable file."""
    path = os.path.join(workdir, "upload-clients-list.xml")
    with open(path, "wb") as f:
        f.write(votable_of(list_rows(psql)))
    return path


def pairs(rows):
    return [[str(a), str(b)] for a, b in rows]


def test_astroquery_launch_job_sync_and_async(server, psql, list_file):
    from astroquery.utils.tap.core import TapPlus

    want = [w[:2] for w in psql_join(psql)]
    before = upload_tables(psql)
    tap = TapPlus(url=server.base, verbose=False)
    job = tap.launch_job(JOIN, upload_resource=list_file, upload_table_name="mine", verbose=False)
    t = job.get_results()
    assert pairs(zip(t["sid"], t["source_id"])) == want
    job = tap.launch_job_async(JOIN, upload_resource=list_file, upload_table_name="mine", verbose=False)
    t = job.get_results()
    assert pairs(zip(t["sid"], t["source_id"])) == want
    assert until(lambda: upload_tables(psql) == before)


def stilts(args, timeout=300):
    p = subprocess.run(["stilts", "-Djava.awt.headless=true"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, check=False)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


@pytest.mark.parametrize("sync,upformat", [("true", "TABLEDATA"), ("false", "BINARY2")])
def test_stilts_tapquery_upload(server, psql, list_file, sync, upformat):
    before = upload_tables(psql)
    rows = stilts(["tapquery", "tapurl=" + server.base, "adql=" + JOIN.replace("TAP_UPLOAD.mine", "TAP_UPLOAD.t"),
                   "nupload=1", "upload1=" + list_file, "ufmt1=votable", "upname1=t", "upvotformat=" + upformat,
                   "sync=" + sync, "omode=out", "ofmt=csv"])
    assert [[r["sid"], r["source_id"]] for r in rows] == [w[:2] for w in psql_join(psql)]
    assert until(lambda: upload_tables(psql) == before)


# The same crossmatch as tapskymatch's (every source within sr of each
# uploaded position), by pgSphere distance.
SKYMATCH_SR = 0.1
PSQL_SKYMATCH = (
    "SELECT u.source_id, s.source_id FROM "
    "(SELECT source_id, ra, dec FROM demo.sources WHERE source_id %% 7 = 0 ORDER BY source_id LIMIT 300) u "
    "JOIN demo.sources s ON spoint(radians(s.ra), radians(s.dec)) <-> spoint(radians(u.ra), radians(u.dec)) "
    "< radians(%r) ORDER BY 1, 2" % SKYMATCH_SR
)


@pytest.mark.parametrize("sync", ["true", "false"])
def test_stilts_tapskymatch(server, psql, list_file, sync):
    before = upload_tables(psql)
    rows = stilts(["tapskymatch", "in=" + list_file, "ifmt=votable", "inlon=ra", "inlat=dec", "tapurl=" + server.base,
                   "taptable=demo.sources", "taplon=ra", "taplat=dec", "tapcols=source_id", "sr=%r" % SKYMATCH_SR,
                   "find=all", "blocksize=100", "sync=" + sync, "omode=out", "ofmt=csv"])
    got = sorted([int(r["sid"]), int(r["source_id"])] for r in rows)
    want = sorted([int(a), int(b)] for a, b in (l.split("\t") for l in psql.run(PSQL_SKYMATCH).splitlines() if l))
    assert len(want) > 300  # every listed source matches itself, some have neighbours
    assert got == want
    assert until(lambda: upload_tables(psql) == before)
