"""Session fixtures of the browser suite: one PostgreSQL with the demo
catalogue, one tapserve, and one headless Chromium driven through Debian's
chromium-driver (python3-selenium). Without Chromium the suite skips,
saying so, except under CI=true, where that is a failure."""

import os
import pathlib
import shutil
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
import tsit  # noqa: E402

DEMO_ROWS = 20000
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _need_browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python3-selenium")
    if missing:
        msg = "browser tests need %s (scripts/install-deps.sh test installs chromium, chromium-driver and python3-selenium)" % ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def outdir():
    """Where screenshots and downloads go: $TS_BROWSER_OUT, else
    build/browser-output in the repository (kept after the run)."""
    d = pathlib.Path(os.environ.get("TS_BROWSER_OUT") or tsit.REPO / "build" / "browser-output")
    shutil.rmtree(d, ignore_errors=True)
    (d / "downloads").mkdir(parents=True)
    print("\nbrowser test output: %s" % d)
    return d


@pytest.fixture(scope="session")
def workdir():
    d = tsit.make_workdir("tapserve-browser-")
    yield d
    tsit.drop_workdir(d)


@pytest.fixture(scope="session")
def db(workdir):
    _need_browser()
    exe = tsit.tapserve_bin()
    if not os.access(exe, os.X_OK):
        pytest.fail("tapserve executable not found at %s (set TAPSERVE_BIN)" % exe)
    data_dir = os.path.join(workdir, "pg")
    dsn = tsit.demo_cluster(data_dir, rows=DEMO_ROWS)
    try:
        yield {"dsn": dsn, "psql": tsit.Psql(dsn)}
    finally:
        tsit.stop_cluster(data_dir)


@pytest.fixture(scope="session")
def server(db, workdir):
    # One job executes at a time, so a second job waits QUEUED behind a
    # long one: the page must then follow it through QUEUED, EXECUTING
    # and COMPLETED by itself.
    srv = tsit.Server(workdir, "tapserve-browser", db["dsn"], {"jobs.max_executing": 1})
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser(outdir):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1400,1000", "--disable-extensions", "--no-first-run"):
        opts.add_argument(a)
    downloads = str(outdir / "downloads")
    opts.add_experimental_option("prefs", {
        "download.default_directory": downloads,
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    # Console messages (a violated Content-Security-Policy shows up there).
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    d.set_page_load_timeout(60)
    yield d
    d.quit()
