"""`tapserve demo --port Q`: the one-command demo creates its own cluster,
loads the catalogue, serves TAP until SIGTERM and then exits cleanly."""

import os
import signal
import subprocess
import time

import requests

import tsit


def test_demo_serves_until_sigterm(workdir):
    exe = tsit.tapserve_bin()
    data_dir = os.path.join(workdir, "demo-pg")
    pg_port, port = tsit.free_port(), tsit.free_port()
    log_path = os.path.join(workdir, "demo.log")
    base = "http://127.0.0.1:%d/tap" % port
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(exe), "demo", "--data-dir", data_dir, "--pg-port", str(pg_port), "--rows", "1000", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 180
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = requests.get(base + "/availability", timeout=2)
                if r.status_code == 200 and "true" in r.text:
                    ready = True
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        with open(log_path, errors="replace") as f:
            log_text = f.read()[-3000:]
        assert ready, "tapserve demo did not become available (rc=%s); log:\n%s" % (proc.poll(), log_text)
        r = requests.get(base + "/sync", params={"LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM demo.sources", "FORMAT": "csv"}, timeout=60)
        assert r.status_code == 200, r.text[:500]
        header, rows = tsit.read_csv(r.text)
        assert rows == [["1000"]], r.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tsit.stop_cluster(data_dir)
