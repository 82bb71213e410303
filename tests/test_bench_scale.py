"""The scale benchmark runs end to end at a tiny size, so that it cannot
silently break (its figures at 10k-1M chunks: BENCHMARKS.md)."""
import json
import subprocess
import sys

from conftest import ROOT


def test_tiny_scale_run(tmp_path):
    out = tmp_path / "scale.json"
    r = subprocess.run([sys.executable, "benchmarks/bench_scale.py", "--sizes", "2000", "--queries", "30",
                        "--only", "Flat", "HNSW32,SQfp16", "--work", str(tmp_path / "w"), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert rows["2000|Flat|"]["recall@10"] == 1.0  # flat is the reference: exact by definition
    assert rows["2000|HNSW32,SQfp16|efSearch=128"]["recall@10"] >= 0.9
    assert all(v["serving_peak_rss_mb"] > 0 and v["p50_ms"] > 0 for v in rows.values())
