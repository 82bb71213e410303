"""Two real app replicas on one index behind nginx with the shipped config
(deploy/nginx/sanad.conf), under the load test: no errors, every answer to
its own session, both replicas used, and each session kept on one replica."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import ROOT, SOURCES, _free_port, start_app, stop_app

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = [pytest.mark.model,
              pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/install-test-deps.sh)")]

spec = importlib.util.spec_from_file_location("load_test", ROOT / "benchmarks" / "load_test.py")
load_test = importlib.util.module_from_spec(spec)
spec.loader.exec_module(load_test)


def nginx_conf(site: str, ports: list[int], listen: int, prefix: Path) -> str:
    """The shipped site config with these ports, inside a minimal nginx.conf
    that logs which replica served each request and for which session."""
    upstream = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in ports)
    server = r"    server 127\.0\.0\.1:\d+[^\n]*\n"
    site, n = re.subn(rf"(?m)^{server}(?:{server})*", upstream, site)
    assert n == 1, "deploy/nginx/sanad.conf: the upstream's server lines were not found"
    site, n = re.subn(r"listen 8080;", f"listen 127.0.0.1:{listen};", site)
    assert n == 1
    return f"""
pid {prefix}/nginx.pid;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    log_format replica '$cookie_sanad_replica $upstream_addr $status $request_uri';
    access_log {prefix}/access.log replica;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
{site}
}}
"""


@pytest.fixture
def replicas(tmp_path):
    index = tmp_path / "index"
    env = {**os.environ, "SANAD_SOURCES": str(SOURCES), "SANAD_INDEX": str(index)}
    subprocess.run([str(Path(sys.executable).parent / "rag"), "index"], env=env, check=True, capture_output=True)
    apps = []
    for k in range(2):
        (tmp_path / f"r{k}").mkdir()
        apps.append(start_app(tmp_path / f"r{k}", SOURCES, index))
    yield [int(url.rstrip("/").rsplit(":", 1)[1]) for url, _, _ in apps]
    for _, proc, log in apps:
        stop_app(proc, log)


@pytest.fixture
def proxy(replicas, tmp_path):
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    prefix.chmod(0o755)  # nginx's workers run as an unprivileged user when started by root
    listen = _free_port()
    site = (ROOT / "deploy" / "nginx" / "sanad.conf").read_text(encoding="utf-8")
    (prefix / "nginx.conf").write_text(nginx_conf(site, replicas, listen, prefix), encoding="utf-8")
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr",
                             "-g", "daemon off;"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{listen}/"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=5)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("nginx did not start:\n" + proc.communicate()[0])
            time.sleep(0.1)
    yield url, prefix / "access.log", replicas
    proc.terminate()
    proc.wait(timeout=10)


def test_two_replicas_behind_nginx_under_load(proxy):
    url, access_log, ports = proxy
    # 16 sessions: each lands on a replica by its own random cookie, so all on one would be
    # a 1-in-32,768 chance
    stats = load_test.run(url, sessions=16, questions=3, timeout=400)
    assert stats["errors"] == 0, stats["error_samples"]
    assert stats["asked"] == 48
    assert stats["wrong_or_misdelivered"] == 0, stats["failed"]

    served = defaultdict(set)  # session cookie -> replicas that served it
    used = set()
    for line in access_log.read_text(encoding="utf-8").splitlines():
        cookie, upstream, status, _ = line.split(" ", 3)
        assert status != "502", line
        if upstream != "-":
            used.add(upstream)
            if cookie != "-":
                served[cookie].add(upstream)
    assert used == {f"127.0.0.1:{p}" for p in ports}, used
    assert len(served) >= 16
    assert all(len(s) == 1 for s in served.values()), {c: s for c, s in served.items() if len(s) > 1}
