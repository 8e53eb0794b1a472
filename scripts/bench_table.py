"""One table of the decoding benches' outputs in a folder (scripts/gpu_check.sh writes them): per model and
path, decode tokens/s, the speed-up over plain generate, the fraction of the roofline, whether the tokens
matched, and the path that really ran; LISA's generate stage per path likewise.

    python scripts/bench_table.py OUTDIR
"""

import json
import sys
from pathlib import Path


def decode_rows(report: dict) -> list[str]:
    rows = []
    for name, entry in report.get("paths", {}).items():
        roof = entry.get("fraction_of_roofline")
        rows.append(f"{report['model']:<12} {name:<20} {entry.get('decode_tok_s') or '-':>9} "
                    f"{entry.get('vs_plain') or '-':>7}x {f'{roof:.1%}' if roof else '-':>7} "
                    f"{'same' if entry.get('same_tokens_as_plain_greedy') else 'DIFF':>5} "
                    f"{entry.get('path_ran', '')} first call {entry.get('first_call_s')} s"
                    + (f", bare step {entry['bare_step_ms']} ms" if entry.get("bare_step_ms") else ""))
    return rows


def lisa_rows(report: dict) -> list[str]:
    rows = []
    for key in ("lisa_gpu", "lisa_small_cpu"):
        lisa = report.get(key)
        if not isinstance(lisa, dict):
            continue
        for path, entry in lisa.get("generate_by_path", {}).items():
            roof = entry.get("fraction_of_roofline")
            rows.append(f"{key:<12} {path:<20} {entry['tokens_per_s_incl_prefill']:>9} "
                        f"{entry['speedup_vs_eager']:>7}x {f'{roof:.1%}' if roof else '-':>7} "
                        f"{'same' if entry['same_tokens_as_eager'] else 'DIFF':>5} {entry.get('path_ran', '')}")
    return rows


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    lines = [f"{'model':<12} {'path':<20} {'tok/s':>9} {'vs plain':>8} {'roofline':>8} {'ids':>5} ran"]
    for path in sorted(folder.glob("*.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(report, dict):
            lines += decode_rows(report) if "paths" in report else lisa_rows(report)
    print("\n".join(lines))  # noqa: T201 - the table is the script's output


if __name__ == "__main__":
    main()
