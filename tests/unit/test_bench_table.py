"""scripts/bench_table.py: the decoding benches' JSON outputs as one table, flagging a path whose tokens
differed from plain generate and naming the path that really ran."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_table.py"


def test_one_row_per_path_with_mismatches_flagged(tmp_path):
    decode = {"model": "qwen2-1.5b", "paths": {
        "plain_generate": {"decode_tok_s": 42.6, "vs_plain": 1.0, "fraction_of_roofline": 0.027,
                           "same_tokens_as_plain_greedy": True, "path_ran": "model.generate", "first_call_s": 11.0},
        "genassist_graphs": {"decode_tok_s": 250.0, "vs_plain": 5.87, "fraction_of_roofline": 0.161,
                             "same_tokens_as_plain_greedy": False, "path_ran": "compiled", "first_call_s": 1.2,
                             "bare_step_ms": 1.1}}}
    lisa = {"lisa_gpu": {"generate_by_path": {"graphs": {
        "tokens_per_s_incl_prefill": 120.0, "speedup_vs_eager": 3.4, "fraction_of_roofline": 0.35,
        "same_tokens_as_eager": True, "path_ran": "graphs"}}}}
    (tmp_path / "decode_qwen2-1.5b.json").write_text(json.dumps(decode))
    (tmp_path / "segment.json").write_text(json.dumps(lisa))
    (tmp_path / "broken.json").write_text("{not json")
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, check=True)
    rows = out.stdout.splitlines()
    assert len(rows) == 4, out.stdout  # the header, two decode paths, one LISA path
    graphs = next(r for r in rows if "genassist_graphs" in r)
    assert "250.0" in graphs and "5.87x" in graphs and "16.1%" in graphs and "DIFF" in graphs
    assert "compiled" in graphs and "bare step 1.1 ms" in graphs  # it fell back: the table says so
    assert "same" in next(r for r in rows if "plain_generate" in r)
    assert "lisa_gpu" in rows[-1] and "3.4x" in rows[-1] and "35.0%" in rows[-1]
