"""`rag eval` as a user runs it, with the real model: short runs (--limit) so
that the harness cannot silently break. Full-size figures: EVALUATION.md."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT

MINI = ROOT / "tests" / "fixtures" / "mini-squad.json"
ARCD = ROOT.parent / "shared" / "datasets" / "arcd-test.json"
KEYS = {"retrieval.recall@1", "retrieval.recall@5", "retrieval.recall@10", "retrieval.mrr",
        "answer.contains_gold", "answer.f1", "citations.contains_gold", "citations.verbatim",
        "latency_ms.p50", "latency_ms.p95"}


def rag_eval(*args, tmp_path, timeout=900):
    return subprocess.run([sys.executable, "-m", "rag", "eval", *map(str, args), "--work", str(tmp_path / "work"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def _check_outputs(out, systems, refusal=True):
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == systems
    for s in systems:
        assert KEYS <= set(metrics[s]), s
        assert metrics[s]["citations.verbatim"] == 1.0
    if refusal:
        assert {"refusal.refused_when_absent", "refusal.false_refusals"} <= set(metrics["sanad"])
    assert (out / "report.md").exists() and (out / "recall_at_k.png").stat().st_size > 1000
    assert (out / "answers.jsonl").read_text(encoding="utf-8").count("\n") >= 10
    return metrics


@pytest.mark.model
def test_squad_file_with_all_systems(tmp_path):
    r = rag_eval(MINI, "--limit", "12", "--folds", "3", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = _check_outputs(tmp_path / "out", ["sanad", "sanad-rules", "bm25", "dense", "langchain"])
    assert {"answer.short_f1", "answer.short_em"} <= set(metrics["sanad"])
    # these questions were written for these articles: retrieval must find them
    assert metrics["sanad"]["retrieval.recall@5"] >= 0.9
    assert "report:" in r.stdout and "Traceback" not in r.stderr


@pytest.mark.model
def test_our_jsonl_set(tmp_path):
    r = rag_eval(ROOT / "eval" / "dev.jsonl", "--limit", "15", "--systems", "sanad,bm25", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    _check_outputs(tmp_path / "out", ["sanad", "bm25"])


@pytest.mark.model
@pytest.mark.skipif(not ARCD.exists(), reason="../shared/datasets is not on this machine")
def test_public_set_short_run(tmp_path):
    r = rag_eval(ARCD, "--limit", "12", "--systems", "sanad,dense", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    _check_outputs(tmp_path / "out", ["sanad", "dense"])


AAQAD = ROOT.parent / "shared" / "datasets" / "aaqad-dev.json"


@pytest.mark.model
@pytest.mark.skipif(not AAQAD.exists(), reason="../shared/datasets is not on this machine")
def test_squad2_short_run_measures_answerability(tmp_path):
    r = rag_eval(AAQAD, "--limit", "16", "--folds", "1", "--systems", "sanad,sanad-rules", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for system in ("sanad", "sanad-rules"):
        assert {"answerability.accuracy", "answerability.balanced_accuracy", "answer.short_f1",
                "refusal.refused_when_absent"} <= set(metrics[system])
    assert "## By question kind: sanad" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    printed = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
    assert {"answerability.balanced_accuracy", "refusal.refused_at_5pct_false"} <= printed


@pytest.mark.parametrize("args, message", [
    (["/no/such.json"], "error: /no/such.json: no such file"),
    (["README.md"], "error: README.md:1: not JSON"),
    ([str(MINI), "--systems", "sanad,gpt"], "error: unknown system(s): gpt"),
    ([str(MINI), "--limit", "0"], "error: --limit must be at least 1"),
    # one article: the refusal test cannot remove it and ask again; said before any index is built
    ([str(MINI), "--limit", "1"], "error: the refusal test asks each question with its article removed"),
])
def test_mistakes_are_one_line(args, message, tmp_path):
    r = rag_eval(*args, tmp_path=tmp_path, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(message)
