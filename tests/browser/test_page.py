"""The page for people in headless Chromium, step by step as an astronomer
would use it: browse to demo.sources, write a query with an error and see
it marked, fix it, run it sync, run jobs and follow them without reloading,
preview and download a result, abort and delete a job, log in and out.
Each step leaves a screenshot in the output folder. Then the page's load
time with 1,000 more tables in /tables is printed."""

import csv
import io
import os
import subprocess
import time

import pytest
import requests

import tsit

pytestmark = pytest.mark.usefixtures("server")

LONG = "SELECT COUNT(*) AS n FROM demo.sources AS a, demo.sources AS b, demo.sources AS c"
RESULT = "SELECT TOP 120 source_id, ra, dec, phot_g_mean_mag FROM demo.sources ORDER BY source_id"


class Page:
    def __init__(self, browser, server, outdir):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.d = browser
        self.server = server
        self.outdir = outdir
        self.By = By
        self.Wait = WebDriverWait
        self.n = 0

    def shot(self, name, css=None):
        """A screenshot, with the element css (if given) scrolled into view."""
        if css:
            self.d.execute_script("document.querySelector(arguments[0]).scrollIntoView({block: 'center'});", css)
        self.n += 1
        path = self.outdir / ("%02d-%s.png" % (self.n, name))
        self.d.save_screenshot(str(path))
        assert path.stat().st_size > 0

    def el(self, css):
        return self.d.find_element(self.By.CSS_SELECTOR, css)

    def els(self, css):
        return self.d.find_elements(self.By.CSS_SELECTOR, css)

    def wait(self, what, timeout=30, msg=""):
        """Waits for what(driver) to be truthy (the page's own events drive
        it; this only looks) and returns its value."""
        return self.Wait(self.d, timeout, poll_frequency=0.1).until(lambda d: what(d), msg)

    def wait_css(self, css, timeout=30):
        return self.wait(lambda d: (self.els(css) or [None])[0], timeout, "no %s" % css)

    def load(self):
        t0 = time.monotonic()
        self.d.get(self.server.base)
        self.wait(lambda d: self.el("body").get_attribute("data-ready"), 60, "the page never got ready")
        return time.monotonic() - t0

    def set_query(self, text):
        ta = self.el("#query")
        self.d.execute_script(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));"
            "arguments[0].dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}));",
            ta,
            text,
        )

    def query(self):
        return self.el("#query").get_attribute("value")

    def table_rows(self, css):
        """The body cells of a result table, without the row number."""
        return self.d.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr')).map("
            "r => Array.from(r.cells).slice(1).map(c => c.textContent));",
            css,
        )

    def table_header(self, css):
        return self.d.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0] + ' thead th')).slice(1)"
            ".map(c => c.textContent);",
            css,
        )

    def job_row(self, job_id):
        rows = self.els('tr[data-job="%s"]' % job_id)
        return rows[0] if rows else None

    def job_phase(self, job_id):
        return self.d.execute_script(
            "var r = document.querySelector('tr[data-job=\"' + arguments[0] + '\"]');"
            "return r ? r.dataset.phase : null;",
            job_id,
        )

    def job_ids(self):
        return set(self.d.execute_script("return Array.from(document.querySelectorAll('tr[data-job]')).map(r => r.dataset.job);"))

    def in_row(self, job_id, what):
        """what(row element) for the job's row as it is now: the list is
        redrawn whenever a job changes, so an element found a moment ago
        may be gone; look again then."""
        from selenium.common.exceptions import StaleElementReferenceException

        def attempt(d):
            try:
                r = self.job_row(job_id)
                return (what(r),) if r else None
            except StaleElementReferenceException:
                return None

        return self.wait(attempt, 30, "job %s: row gone" % job_id)[0]

    def click_in_row(self, job_id, css):
        self.in_row(job_id, lambda r: r.find_element(self.By.CSS_SELECTOR, css).click())

    def run_async(self, text, fmt="csv"):
        """Starts a job from the page; returns its id once its row is there."""
        from selenium.webdriver.support.ui import Select

        before = self.job_ids()
        self.set_query(text)
        Select(self.el("#format")).select_by_visible_text(fmt)
        self.el("#run-async").click()

        def new_row(d):
            now = self.job_ids()
            return (now - before or {None}).pop()

        return self.wait(new_row, 30, "the new job never appeared in the list")


def read_csv(text):
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture(scope="module")
def page(browser, server, outdir):
    return Page(browser, server, outdir)


def test_astronomer_session(page, server, db, outdir):
    p = page
    base = server.base

    # -- the page loads, with the tables and the examples -------------------
    p.load()
    p.wait_css('details[data-schema="demo"]')
    p.shot("loaded")
    examples = [o.get_attribute("data-id") for o in p.els("#examples option[data-id]")]
    assert "cone_search" in examples

    # -- browse to demo.sources: its columns, then a click writes the query -
    schema = p.el('details[data-schema="demo"]')
    if not schema.get_attribute("open"):
        schema.find_element(p.By.CSS_SELECTOR, "summary").click()
    row = p.el('.tbl[data-table="demo.sources"]')
    row.find_element(p.By.CSS_SELECTOR, "details.columns summary").click()
    cols = p.wait(lambda d: row.find_elements(p.By.CSS_SELECTOR, "table.data tbody tr"))
    ra = [c.text for c in cols if c.text.startswith("ra ")]
    assert ra and "deg" in ra[0] and "pos.eq.ra" in ra[0], ra
    row.find_element(p.By.CSS_SELECTOR, "button.pick").click()
    assert p.query() == "SELECT TOP 100 * FROM demo.sources"
    p.shot("browse-demo-sources")

    # -- completion from /tables: typing, arrow keys and Enter --------------
    from selenium.webdriver.common.keys import Keys

    p.set_query("")
    ta = p.el("#query")
    ta.send_keys("SELECT TOP 3 * FROM demo.sou")
    p.wait(lambda d: not p.el("#complete").get_attribute("hidden"), 10, "no completion list")
    assert "demo.sources" in p.el("#complete").text
    ta.send_keys(Keys.ENTER)
    assert p.query() == "SELECT TOP 3 * FROM demo.sources"
    p.shot("completion")

    # -- a query with an error: the marker sits at line 3, column 7 ----------
    bad = "SELECT TOP 5 source_id, ra\nFROM demo.sources\nWHERE phot_g_mean_magg < 15\nORDER BY source_id"
    p.set_query(bad)
    p.el("#check").click()
    mark = p.wait_css("#err-mark")
    assert (mark.get_attribute("data-line"), mark.get_attribute("data-column")) == ("3", "7")
    assert mark.text == "p"  # the first character of the unknown column
    assert "phot_g_mean_magg" in p.el("#check-msg").text
    assert "phot_g_mean_mag" in p.el("#check-msg").text.replace("phot_g_mean_magg", "")
    p.shot("error-marked")

    # -- fixed: valid, no marker; then sync with MAXREC ----------------------
    good = bad.replace("magg", "mag")
    p.set_query(good)
    assert not p.els("#err-mark")
    p.el("#check").click()
    p.wait(lambda d: "valid" in p.el("#check-msg").text, 30, "the fixed query was not found valid")
    maxrec = p.el("#maxrec")
    maxrec.clear()
    maxrec.send_keys("4")
    p.el("#run-sync").click()
    p.wait_css("#sync-preview")
    direct = requests.post(base + "/sync", data={"LANG": "ADQL", "QUERY": good, "RESPONSEFORMAT": "csv", "MAXREC": "4"}, timeout=60)
    assert direct.status_code == 200
    ref = read_csv(direct.text)
    assert p.table_header("#sync-preview") == ref[0]
    assert p.table_rows("#sync-preview") == ref[1:]
    assert len(ref) == 5
    p.shot("sync-preview", "#sync-result")

    # -- jobs: a long one executes, a second waits behind it ----------------
    p.d.execute_script("window.__sameDocument = 1;")
    long_id = p.run_async(LONG, "votable")
    p.wait(lambda d: p.job_phase(long_id) == "EXECUTING", 60, "the long job never showed EXECUTING")
    result_id = p.run_async(RESULT, "csv")
    p.wait(lambda d: p.job_phase(result_id) == "QUEUED", 30, "the second job never showed QUEUED")
    p.shot("jobs-executing-queued", "#jobs")

    # -- abort the long one: the second runs and completes, no reload --------
    p.click_in_row(long_id, "button.abort")
    p.wait(lambda d: p.job_phase(long_id) == "ABORTED", 60, "the abort did not show")
    p.wait(lambda d: p.job_phase(result_id) == "COMPLETED", 120, "the second job never showed COMPLETED")
    assert p.d.execute_script("return window.__sameDocument") == 1, "the page was reloaded"
    cells = p.in_row(result_id, lambda r: [c.text for c in r.find_elements(p.By.CSS_SELECTOR, "td")])
    assert cells[5] == "120", cells  # rows
    p.shot("job-completed", "#jobs")

    # -- preview, two pages, equal to the result's own CSV -------------------
    url_csv = "%s/async/%s/results/result?RESPONSEFORMAT=csv" % (base, result_id)
    ref = read_csv(requests.get(url_csv, timeout=60).text)
    p.click_in_row(result_id, "button.preview")
    p.wait_css("#job-preview")
    assert p.table_header("#job-preview") == ref[0]
    assert p.table_rows("#job-preview") == ref[1:51]
    p.el("#job-result button.next").click()
    p.wait(lambda d: p.table_rows("#job-preview") == ref[51:101], 30, "page 2 differs from rows 51-100")
    p.shot("job-preview", "#job-result")
    topcat = p.el("#topcat-url").get_attribute("value")
    assert topcat == "%s/async/%s/results/result?RESPONSEFORMAT=votable" % (base, result_id)
    formats = [a.get_attribute("data-format") for a in p.els("#job-result .downloads a")]
    assert {"votable", "fits", "csv", "json"} <= set(formats)

    # -- download CSV: the same bytes as the result resource ----------------
    downloads = outdir / "downloads"
    p.el('#job-result .downloads a[data-format="csv"]').click()

    def downloaded(d):
        done = [f for f in os.listdir(downloads) if not f.endswith(".crdownload")]
        return done[0] if done else None

    name = p.wait(downloaded, 60, "no download")
    got = (downloads / name).read_bytes()
    assert got == requests.get(url_csv, timeout=60).content
    p.shot("downloaded", "#job-result")

    # -- delete the aborted job ---------------------------------------------
    p.click_in_row(long_id, "button.delete")
    p.wait(lambda d: p.job_phase(long_id) is None, 30, "the deleted job stayed in the list")
    assert requests.get("%s/async/%s" % (base, long_id), timeout=30).status_code == 404
    p.shot("job-deleted", "#jobs")

    # -- log in and out (the session cookie), then anonymous again ----------
    add = subprocess.run(
        [str(tsit.tapserve_bin()), "user", "add", "vera", "--dsn", db["dsn"]],
        input=b"rubin-1928\n",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    assert add.returncode == 0, add.stdout
    p.el("#username").send_keys("vera")
    p.el("#password").send_keys("rubin-1928")
    p.el("#login-btn").click()
    p.wait(lambda d: p.el("#who").text == "Logged in as vera", 30, "login did not show")
    assert any(c["name"] == "SESSION" for c in p.d.get_cookies())
    p.shot("logged-in")
    p.el("#logout-btn").click()
    p.wait(lambda d: p.el("#who").text == "Anonymous", 30, "logout did not show")
    p.shot("logged-out")

    # -- by keyboard: a table's name is a button, Enter takes it --------------
    p.el('button.pick[data-table="demo.fields"]').send_keys(Keys.ENTER)
    assert p.query() == "SELECT TOP 100 * FROM demo.fields"
    assert p.d.switch_to.active_element.get_attribute("id") == "query"

    # -- on a phone: one column, nothing wider than the screen ---------------
    p.d.set_window_size(390, 844)
    try:
        p.wait(lambda d: d.execute_script("return window.innerWidth") <= 400, 10, "the window did not shrink")
        wide = p.d.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        culprits = p.d.execute_script(
            "return Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1"
            " && !(e.parentElement && e.parentElement.closest('.scroll')) || e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX == 'visible').slice(-8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + '/' + e.scrollWidth);"
        )
        assert wide <= 0, "the page is %d px wider than a phone's screen: %s" % (wide, culprits)
        q, t = p.el("#query-sec").rect, p.el("#tables-sec").rect
        assert t["y"] >= q["y"] + q["height"] - 1, "the table browser is not below the query on a phone"
        p.shot("phone")
    finally:
        p.d.set_window_size(1400, 1000)

    # -- nothing was refused by the Content-Security-Policy ------------------
    bad_logs = [e for e in p.d.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not bad_logs, bad_logs


def test_load_time_with_1000_tables(page, server, db):
    """Publishes 1,000 tables of 8 columns each, then loads the page and
    prints how long it took until the tables, the examples and the jobs
    were drawn (printed, not asserted)."""
    psql = db["psql"]
    psql.run(
        "CREATE SCHEMA IF NOT EXISTS many;"
        "DO $$ BEGIN FOR i IN 1..1000 LOOP EXECUTE format("
        "'CREATE TABLE IF NOT EXISTS many.t%s (id bigint PRIMARY KEY, ra double precision, dec double precision,"
        " mag real, flux real, name text, epoch double precision, flag smallint)', lpad(i::text, 4, '0'));"
        " END LOOP; END $$;"
        "INSERT INTO tap_schema.schemas (schema_name, description) VALUES ('many', 'A thousand tables')"
        " ON CONFLICT DO NOTHING;"
        "INSERT INTO tap_schema.tables (schema_name, table_name, description, table_index)"
        " SELECT 'many', 'many.t' || lpad(i::text, 4, '0'), 'Table number ' || i, i FROM generate_series(1, 1000) i"
        " ON CONFLICT DO NOTHING;"
        "INSERT INTO tap_schema.columns (table_name, column_name, datatype, unit, ucd, description, column_index)"
        " SELECT 'many.t' || lpad(i::text, 4, '0'), c.name, c.dt, c.unit, c.ucd, 'column ' || c.name, c.k"
        " FROM generate_series(1, 1000) i, (VALUES (1, 'id', 'long', NULL, 'meta.id'), (2, 'ra', 'double', 'deg', 'pos.eq.ra'),"
        " (3, 'dec', 'double', 'deg', 'pos.eq.dec'), (4, 'mag', 'float', 'mag', 'phot.mag'), (5, 'flux', 'float', 'Jy', 'phot.flux'),"
        " (6, 'name', 'char', NULL, 'meta.id'), (7, 'epoch', 'double', 'yr', 'time.epoch'), (8, 'flag', 'short', NULL, 'meta.code'))"
        " AS c(k, name, dt, unit, ucd)"
        " ON CONFLICT DO NOTHING;",
        timeout=300,
    )
    deadline = time.monotonic() + 60
    while "many.t1000" not in requests.get(server.base + "/tables", params={"only_tables": "true"}, timeout=60).text:
        assert time.monotonic() < deadline, "the 1,000 tables never appeared in /tables"
        time.sleep(0.2)
    size = len(requests.get(server.base + "/tables", timeout=60).content)
    times = []
    for _ in range(3):
        wall = page.load()
        page.wait_css('details[data-schema="many"]')
        times.append((wall, int(page.el("body").get_attribute("data-ready"))))
    slow = page.d.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name.replace(location.origin, ''),"
        " Math.round(e.startTime), Math.round(e.responseStart - e.startTime), Math.round(e.duration)])"
        ".sort((a, b) => b[3] - a[3]).slice(0, 5);"
    )
    marks = page.d.execute_script(
        "return performance.getEntriesByType('mark').map(e => [e.name, Math.round(e.startTime)]);"
    )
    # Closed, the schema holds no rows yet; opened, all of them.
    many = page.el('details[data-schema="many"]')
    assert not many.get_attribute("open") and not page.els('.tbl[data-table^="many."]')
    many.find_element(page.By.CSS_SELECTOR, "summary").click()
    page.wait(lambda d: len(page.els('.tbl[data-table^="many."]')) == 1000, 30, "the 1,000 tables were not drawn")
    # The filter finds one table among them.
    page.el("#table-filter").send_keys("t0777")
    shown = page.wait(lambda d: [r.get_attribute("data-table") for r in page.els(".tbl") if r.is_displayed()] or None)
    assert shown == ["many.t0777"], shown
    page.el("#table-filter").clear()
    page.shot("1000-tables")
    # Completion stays quick: one keystroke's list with 1,000 tables known.
    page.set_query("SELECT * FROM many.t09")
    page.el("#query").send_keys("9")
    page.wait(lambda d: "many.t0999" in page.el("#complete").text, 10, "no completion among 1,000 tables")
    print(
        "\npage load with 1,000 more tables (/tables %d bytes): %s"
        % (size, ", ".join("%.0f ms (page ready at %d ms after navigation)" % (w * 1000, r) for w, r in times))
    )
    print("slowest requests of the last load (path, start, first byte, total ms): %s" % slow)
    print("page marks (ms after navigation): %s" % marks)
