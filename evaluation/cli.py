"""The command line. Scoring is a stable contract that scripts call:

  python -m evaluation score reasonseg --data DATA --predictions PRED --out OUT
  python -m evaluation score magicbrush --data DATA --predictions PRED --out OUT [--clip DIR] [--dino DIR]
  python -m evaluation predict reasonseg --lisa FOLDER --vision-tower DIR --data DATA --out PRED
  python -m evaluation run-workflow {reasonseg,magicbrush} --workflow API.json --server URL [--server URL]
                                     --data DATA --out PRED
"""

import argparse
import json
import sys
from pathlib import Path

from .magicbrush import read_magicbrush
from .progress import Progress
from .reasonseg import read_reasonseg
from .report import markdown, write_results
from .tasks import PROVIDED, magicbrush_tasks, reasonseg_tasks


def say(text: str, stream=None) -> None:
    """A command line's output (results, summaries) goes to stdout, notices to stderr."""
    (stream or sys.stdout).write(text + "\n")


READERS = {"reasonseg": read_reasonseg, "magicbrush": read_magicbrush}


def _dataset_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="the dataset folder (its published layout)")
    parser.add_argument("--split", default=None, help="a split subfolder of --data (e.g. val, test)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N items (sorted by name)")
    parser.add_argument("--queries", choices=("first", "all"), default="first",
                        help="ReasonSeg: LISA validates each image's first query; 'all' takes every query")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="score saved predictions; writes OUT/results.json, .md, figure")
    score.add_argument("dataset", choices=READERS)
    _dataset_args(score)
    score.add_argument("--predictions", required=True, help="folder of predictions")
    score.add_argument("--out", required=True, help="folder for results.json, results.md, best_worst.png")
    score.add_argument("--clip", default=None, help="MagicBrush: local CLIP folder for CLIP-I and CLIP-T")
    score.add_argument("--dino", default=None, help="MagicBrush: local DINO ViT folder for DINO")
    score.add_argument("--device", default="cpu")
    predict = commands.add_parser("predict", help="predict with the pack's libraries (LISA)")
    predict.add_argument("dataset", choices=("reasonseg",))
    _dataset_args(predict)
    predict.add_argument("--lisa", required=True, help="a LISA checkpoint folder (e.g. models/LLM/LISA-7B-v1)")
    predict.add_argument("--vision-tower", required=True, help="its CLIP folder (clip-vit-large-patch14)")
    predict.add_argument("--out", required=True, help="the predictions folder")
    predict.add_argument("--device", default="cpu")
    predict.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    run = commands.add_parser("run-workflow", help="run a ComfyUI workflow (API format) over the dataset")
    run.add_argument("dataset", choices=READERS)
    _dataset_args(run)
    run.add_argument("--workflow", required=True, help="the workflow, exported in API format")
    run.add_argument("--server", action="append", required=True, help="a running ComfyUI's URL; repeatable")
    run.add_argument("--out", required=True, help="the predictions folder")
    run.add_argument("--timeout", type=float, default=600.0, help="seconds one item may take")
    return parser


def read(args):
    result = READERS[args.dataset](args.data, args.split, args.limit)
    for error in result.errors:
        say(f"skipped a malformed item: {error}", sys.stderr)
    if not result.items:
        raise SystemExit(f"no readable items in {args.data}" + (f" (split {args.split})" if args.split else ""))
    return result


def tasks_for(args, items):
    if args.dataset == "reasonseg":
        return reasonseg_tasks(items, args.out, args.queries)
    return magicbrush_tasks(items, args.out)


def command_score(args) -> dict:
    data = read(args)
    if args.dataset == "reasonseg":
        from .score_reasonseg import score_reasonseg

        result = score_reasonseg(data.items, args.predictions, args.queries)
    else:
        from .embedding_metrics import ClipScorer, DinoScorer
        from .score_magicbrush import score_magicbrush

        clip = ClipScorer(args.clip, args.device) if args.clip else None
        dino = DinoScorer(args.dino, args.device) if args.dino else None
        progress = Progress(len(data.items)) if clip or dino else None  # model metrics take a while
        result = score_magicbrush(data.items, args.predictions, clip, dino, progress and progress.step)
    result.update({"split": args.split, "errors": data.errors + result.get("errors", [])})
    paths = write_results(result, data.items, args.predictions, args.out)
    say(markdown(result))
    say(f"wrote {paths['json']}, {paths['markdown']}" + (f", {paths['figure']}" if paths["figure"] else ""))
    return result


def command_predict(args) -> dict:
    from .predict_lisa import predict_reasonseg_lisa

    data = read(args)
    return predict_reasonseg_lisa(tasks_for(args, data.items), args.lisa, args.vision_tower, args.out,
                                  args.device, args.dtype)


def command_run_workflow(args) -> dict:
    from .workflow_bind import bind_workflow
    from .workflow_runner import run_workflow

    path = Path(args.workflow)
    try:
        graph = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"cannot read the workflow {path}: {err}") from None
    workflow = bind_workflow(graph, PROVIDED[args.dataset], str(path))
    data = read(args)
    return run_workflow(tasks_for(args, data.items), workflow, args.server, args.out, args.timeout)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = {"score": command_score, "predict": command_predict,
                   "run-workflow": command_run_workflow}[args.command](args)
    except (ValueError, FileNotFoundError) as err:
        say(f"error: {err}", sys.stderr)
        return 2
    if args.command != "score":
        say(json.dumps({k: v for k, v in summary.items() if k != "failures"}))
        for key, failure in summary.get("failures", {}).items():
            say(f"failed: {key}: {failure['error']}", sys.stderr)
        return 1 if summary.get("failed") else 0
    return 0
