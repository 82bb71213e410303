"""Concurrent sessions against the real app over HTTP (gradio_client), on
127.0.0.1, bounded. The full-size run (20 sessions x 10 questions) is
benchmarks/load_test.py; its figures are in RELIABILITY.md."""
import importlib.util

import pytest

from conftest import ROOT

pytestmark = pytest.mark.model

spec = importlib.util.spec_from_file_location("load_test", ROOT / "benchmarks" / "load_test.py")
load_test = importlib.util.module_from_spec(spec)
spec.loader.exec_module(load_test)


def test_concurrent_sessions_get_their_own_answers(app_server):
    stats = load_test.run(app_server, sessions=8, questions=5, timeout=240)
    assert stats["errors"] == 0, stats["error_samples"]
    assert stats["asked"] == 40
    assert stats["wrong_or_misdelivered"] == 0, stats["failed"]


def test_only_loopback_is_a_target():
    with pytest.raises(SystemExit):
        load_test.run("http://10.0.0.1:7860/", sessions=1, questions=1)
