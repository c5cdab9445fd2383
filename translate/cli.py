"""The `translate` command line.

    translate train PIPELINE --data PATH --run DIR [--steps N | --epochs N] [options]
    translate train --resume DIR
    translate infer WEIGHTS INPUT... --out DIR   (INPUT: a file or a folder of images)
    translate eval WEIGHTS --data PATH [--json]
    translate export WEIGHTS --onnx FILE
    translate demo [--port P]
    translate bench NAME
    translate weights [list | add RUN_DIR NAME | check [NAME...]]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from .errors import NonFiniteLossError, UserError

# No network at run time: Gradio telemetry, the Hugging Face hub and albumentations' update check.
for _key, _value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_OFFLINE", "1"),
                     ("HF_HUB_DISABLE_TELEMETRY", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1")):
    os.environ.setdefault(_key, _value)


def _train_parser(pipeline, defaults: dict, resume: bool) -> argparse.ArgumentParser:
    from .train.options import TrainerOptions, add_options

    if resume:
        parser = argparse.ArgumentParser(prog="translate train --resume DIR",
                                         description="Continue a training run where its checkpoint left off.")
        parser.add_argument("--resume", required=True, metavar="DIR", help="the run folder to continue")
    else:
        description = (sys.modules[pipeline.__module__].__doc__ or "").strip()
        parser = argparse.ArgumentParser(prog=f"translate train {pipeline.name}", description=description,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--data", required=True, help="training data (a folder, or a built-in data set's name)")
        parser.add_argument("--run", required=True, metavar="DIR", help="folder for checkpoints, logs and samples")
    add_options(parser, TrainerOptions, "training", defaults)
    if not resume:
        add_options(parser, pipeline.Options, f"{pipeline.name} options")
    return parser


def _architecture_of_init(pipeline, options, loaded, init: str, argv: list[str]):
    """Fine-tuning: the options that shape the networks and are not on the command line come from the --init
    weights (their card, or what a reference checkpoint's keys say), so `--init NAME` alone fits them."""
    if loaded.pipeline is not pipeline:
        return options  # the trainer says so in one line
    given = {argument.split("=")[0] for argument in argv}
    taken = {}
    for name in pipeline.architecture_options:
        flag = name.replace("_", "-")
        on_command_line = f"--{flag}" in given or f"--no-{flag}" in given
        if not on_command_line and getattr(loaded.options, name) != getattr(options, name):
            taken[name] = getattr(loaded.options, name)
    if taken:
        print(f"--init {init}: its architecture, where the command line does not say: "
              + " ".join(f"{name}={value}" for name, value in taken.items()), file=sys.stderr)
    return replace(options, **taken)


def command_train(argv: list[str]) -> int:
    from .pipelines import PIPELINES, get_pipeline
    from .train import Trainer, TrainerOptions
    from .train.options import from_dict, options_from_args

    resume = "--resume" in argv or any(a.startswith("--resume=") for a in argv)
    init_weights = None
    if resume:
        probe = argparse.ArgumentParser(add_help=False)
        probe.add_argument("--resume")
        run_dir = Path(probe.parse_known_args(argv)[0].resume)
        saved_path = run_dir / "options.json"
        if not saved_path.is_file():
            raise UserError(f"{run_dir}: no options.json here; --resume takes the --run folder of an earlier training")
        saved = json.loads(saved_path.read_text())
        pipeline = get_pipeline(saved["pipeline"])
        base = replace(from_dict(TrainerOptions, saved["trainer"]), stop_at=0)  # a stop applies once
        args = _train_parser(pipeline, vars(base), resume=True).parse_args(argv)
        trainer_options = options_from_args(TrainerOptions, args, base=base)
        options, data = from_dict(pipeline.Options, saved["options"]), saved["data"]
    else:
        names = [a for a in argv if not a.startswith("-")]
        if not names or names[0] not in PIPELINES:
            hint = f"unknown pipeline {names[0]!r}; " if names else ""
            raise UserError(f"{hint}usage: translate train PIPELINE --data PATH --run DIR (PIPELINE: {', '.join(PIPELINES)}),"
                            " or translate train --resume DIR")
        pipeline = get_pipeline(names[0])
        rest = list(argv)
        rest.remove(names[0])
        args = _train_parser(pipeline, pipeline.trainer_defaults, resume=False).parse_args(rest)
        trainer_options = options_from_args(TrainerOptions, args, defaults=pipeline.trainer_defaults)
        options = options_from_args(pipeline.Options, args)
        if trainer_options.init:  # loaded once: the trainer starts from these same weights
            from .weights import load_weights

            init_weights = load_weights(trainer_options.init)
            options = _architecture_of_init(pipeline, options, init_weights, trainer_options.init, argv)
        data, run_dir = args.data, Path(args.run)
        if (run_dir / "checkpoint.pt").exists():
            raise UserError(f"{run_dir} already holds a training run: continue it with `translate train --resume "
                            f"{run_dir}` or choose another --run folder")
    given = {a.split("=")[0] for a in argv}
    if "--steps" in given and "--epochs" not in given and trainer_options.epochs:
        trainer_options = replace(trainer_options, epochs=0)  # an explicit --steps beats a default in epochs
    # A resumed run keeps the command that started it: that is what its model card must show.
    command = ["translate", "train", *argv]
    if resume:
        command = saved.get("command") or command
    trainer = Trainer(pipeline, options, trainer_options, data, run_dir, resume=resume, command=command,
                      init_weights=init_weights)
    from .train.distributed import is_main_process, shutdown

    if is_main_process():
        from .train.options import to_dict

        shown = to_dict(trainer_options)
        if trainer_options.epochs:
            del shown["steps"]  # unused: --epochs sets the length, which the line after gives in steps
        for title, values in (("training", shown), (pipeline.name, to_dict(options))):
            print(f"{title} options: " + " ".join(f"{k}={v}" for k, v in values.items()), file=sys.stderr)
        epochs = trainer_options.epochs
        length = f" ({epochs} epoch{'s' if epochs != 1 else ''})" if epochs else ""
        print(f"{pipeline.name}: {trainer.total_steps} steps{length} on {trainer.device} "
              f"({trainer_options.precision}{', compiled' if trainer_options.compile else ''}), run folder {run_dir}",
              file=sys.stderr)
    try:
        logs: dict[str, float] = {}
        for step, logs in trainer.iterate():
            if not trainer_options.progress and is_main_process():  # no bar (e.g. logging to a file): a line
                losses = " ".join(f"{k}={v:.4g}" for k, v in logs.items())
                seconds_per_step = trainer.last_timing['time/step_s']
                left = _rough_duration(seconds_per_step * (trainer.total_steps - step))
                print(f"step {step}/{trainer.total_steps} {losses} ({seconds_per_step:.3f} s/step, {left} left)",
                      file=sys.stderr, flush=True)
        metrics = {}
        if is_main_process():
            with trainer.aside():
                metrics = trainer.pipeline.validate()
    finally:
        shutdown()
    if is_main_process():
        summary = {"step": trainer.step, **{k: round(v, 5) for k, v in logs.items()}, **metrics}
        print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


def _rough_duration(seconds: float) -> str:
    """A time left at the last interval's pace, e.g. "about 2 h 19 min", "about 40 s"."""
    minutes = round(seconds / 60)
    if minutes >= 60:
        return f"about {minutes // 60} h {minutes % 60:02d} min"
    return f"about {minutes} min" if minutes >= 1 else f"about {round(seconds)} s"


def _inference_precision(args, device):
    """--precision of `infer` and `eval`: bfloat16 autocast around the whole call, after a line where it is slow."""
    import torch

    from .train.trainer import cpu_precision_advice

    if device.type == "cpu" and (advice := cpu_precision_advice(args.precision)):
        print(advice, file=sys.stderr)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")


def command_infer(args) -> int:
    from .data.images import list_images
    from .weights import load_weights

    device = _inference_device(args.device)
    loaded = load_weights(args.weights, device)
    _refuse_options_it_ignores(args, loaded.pipeline.infer, loaded.pipeline.name)
    # a folder stands for the images in it
    inputs = [str(path) for given in args.inputs
              for path in (list_images(given) if Path(given).is_dir() else [given])]
    with _inference_precision(args, device):
        written = loaded.pipeline.infer(loaded.networks, loaded.options, inputs, Path(args.out),
                                        data=loaded.card.get("data", ""), card=loaded.card, **_extra(args))
    for path in written:
        print(path)
    return 0


def command_eval(args) -> int:
    from .weights import load_weights

    device = _inference_device(args.device)
    loaded = load_weights(args.weights, device)
    _refuse_options_it_ignores(args, loaded.pipeline.evaluate, loaded.pipeline.name)
    out = Path(args.out) if args.out else (Path(args.weights) / "eval" if Path(args.weights).is_dir() else None)
    with _inference_precision(args, device):
        metrics = loaded.pipeline.evaluate(loaded.networks, loaded.options, args.data, out=out, card=loaded.card,
                                           **_extra(args))
    metrics = {"weights": str(args.weights), **metrics}
    # With --json, stdout is the JSON line alone (for `| jq`); the readable lines go to stderr.
    for key, value in metrics.items():
        print(f"{key}: {value}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        from .weights import strict_json

        print(json.dumps(strict_json(metrics), allow_nan=False))
    return 0


def command_export(args) -> int:
    from .export import export_onnx

    path = export_onnx(args.weights, Path(args.onnx))
    print(path)
    return 0


def command_demo(args) -> int:
    from apps.suite import launch

    launch(port=args.port, host=args.host)
    return 0


def command_bench(args, extra: list[str]) -> int:
    from .bench import run_bench

    return run_bench(args.name, extra)


def command_weights(args) -> int:
    from .weights import WEIGHTS_DIR, available, check, ship

    if args.action == "check":
        return _check_weights(check(args.rest or None))
    if args.action == "add":
        if len(args.rest) != 2:
            raise UserError("usage: translate weights add RUN_DIR NAME [--eval-data PATH]... [--half] [--note TEXT]")
        target = ship(Path(args.rest[0]), args.rest[1], eval_data=args.eval_data, half=args.half, note=args.note)
        print(target)
        return 0
    names = available()
    for name in names:
        card = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
        metrics = ", ".join(f"{k}={v}" for k, v in card.get("metrics", {}).items())
        print(f"{name}  ({card.get('pipeline')}) {metrics}")
    if not names:
        print(f"no weights in {WEIGHTS_DIR}")
    return 0


def _check_weights(rows: list[dict]) -> int:
    """Print `translate weights check`'s result, a line per weights and data set with any metric that
    differs below it; 1 when one differs from its card."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["name"], row["data"]), []).append(row)
    differ = skipped = 0
    for (name, data), group in groups.items():
        if "skipped" in group[0]:
            skipped += 1
            print(f"{name} on {data}: not scored here: {group[0]['skipped']} (weights/README.md says how the "
                  "card's data was made)")
            continue
        wrong = [row for row in group if not row["ok"]]
        differ += bool(wrong)
        print(f"{name} on {data}: " + (f"{len(wrong)} of {len(group)} metrics DIFFER from the card" if wrong
                                       else f"all {len(group)} metrics as the card says"))
        for row in wrong:
            print(f"    {row['metric']}: card {row['card']}, here {row['here']}")
    outcomes = [f"{len(groups) - differ - skipped} match their model cards"]
    outcomes += [f"{differ} differ"] * bool(differ) + [f"{skipped} not scored here"] * bool(skipped)
    print(f"{len(groups)} checks (weights × data set): " + ", ".join(outcomes))
    return 1 if differ else 0


def _inference_device(name: str):
    from .train.trainer import choose_device

    return choose_device(name)


# options of `infer` and `eval` that only some pipelines take, with their defaults
PIPELINE_SPECIFIC = {"direction": ("--direction", "AtoB"), "test_dropout": ("--test-dropout", False),
                     "tile": ("--tile", 256), "max_side": ("--max-side", 0)}


def _refuse_options_it_ignores(args, method, pipeline_name: str) -> None:
    """A pipeline-specific option given to weights that ignore it is an error, not a silent no-op: asking
    pix2pix weights for --direction BtoA would otherwise translate A→B as if asked."""
    import inspect

    taken = inspect.signature(method).parameters
    for name, (flag, default) in PIPELINE_SPECIFIC.items():
        if getattr(args, name, default) != default and name not in taken:
            raise UserError(f"{flag} does not apply to {pipeline_name} weights here; drop it "
                            f"(`translate {args.command} --help` says which pipelines take it)")


def _extra(args) -> dict:
    return {"seed": args.seed, "tile": args.tile, "direction": args.direction,
            "critic_steps": getattr(args, "critic_steps", 0), "test_dropout": args.test_dropout,
            "baseline_steps": getattr(args, "baseline_steps", 0), "judge_steps": getattr(args, "judge_steps", 0),
            "inception": getattr(args, "inception", None), "max_side": getattr(args, "max_side", 0)}


def _version() -> str:
    """This package's version and the libraries a bug report needs."""
    import platform

    import torch

    from . import __version__

    return f"translate {__version__} (torch {torch.__version__}, Python {platform.python_version()})"


class _PrintVersion(argparse.Action):
    """--version, built only when asked: it imports torch."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def _zero_or_more(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: must be 0 or more")
    return value


def _main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="translate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_PrintVersion, nargs=0, help="the versions of translate, torch and Python")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("train", help="train a pipeline (translate train PIPELINE --help lists its options)",
                        add_help=False)
    infer = commands.add_parser("infer", help="run trained weights on inputs")
    infer.add_argument("weights", help="a name under weights/, a run folder, or a weights file")
    infer.add_argument("inputs", nargs="+", help="input files or folders of them (or what the pipeline takes)")
    infer.add_argument("--out", required=True, help="output folder")
    infer.add_argument("--max-side", type=_zero_or_more, default=0, metavar="PIXELS",
                       help="pix2pix/CycleGAN: scale larger images down to at most this many pixels on their longer "
                       "side first (0: full size; an image too big for the memory free says what fits)")
    evaluate = commands.add_parser("eval", help="score weights on held-out data")
    evaluate.add_argument("weights")
    evaluate.add_argument("--data", required=True, help="evaluation data (folder or built-in name)")
    evaluate.add_argument("--json", action="store_true",
                          help="print the metrics as one line of JSON on stdout (the readable lines go to stderr)")
    evaluate.add_argument("--baseline-steps", type=_zero_or_more, default=2000,
                          help="semisup: training steps of the supervised-only baseline (0: skip it)")
    evaluate.add_argument("--judge-steps", type=_zero_or_more, default=2000,
                          help="semisup: training steps of the judge (a classifier on all training labels) that "
                          "scores 10,000 generator samples (0: skip it)")
    evaluate.add_argument("--critic-steps", type=_zero_or_more, default=300,
                          help="pix2pix/CycleGAN: training steps of the independent critic (0: skip it)")
    evaluate.add_argument("--inception", metavar="FILE",
                          help="pix2pix/CycleGAN: also FID and KID, with this local Inception-v3 .pth (torchvision's "
                          "inception_v3_google-*.pth or pytorch-fid's pt_inception-2015-12-05-*.pth; never downloaded)")
    evaluate.add_argument("--out", help="also write pictures of the results here (default for a run folder: RUN/eval)")
    for sub in (infer, evaluate):
        sub.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
        sub.add_argument("--seed", type=int, default=0, help="seed for any sampling")
        sub.add_argument("--tile", type=_zero_or_more, default=256,
                         help="super-resolution: LR tile edge for tiled inference (0: whole image at once)")
        sub.add_argument("--test-dropout", action="store_true",
                         help="pix2pix: keep the generator's dropout on at test time (the paper's noise; vary --seed)")
        sub.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"),
                         help="CycleGAN: which generator to run (A→B or B→A)")
        sub.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                         help="bf16: run the networks (for eval, also what it trains) under bfloat16 autocast; "
                         "SRResNet ×4 on a CPU with AVX512-BF16: about twice as fast for 0.01 dB PSNR-Y less "
                         "(BENCHMARKS.md); slower on a CPU without AMX or AVX512-BF16")
    export = commands.add_parser("export", help="export a generator (semisup: the classifier D) to ONNX")
    export.add_argument("weights")
    export.add_argument("--onnx", required=True, help="the .onnx file to write")
    demo = commands.add_parser("demo", help="launch the Gradio demo suite on the shipped weights")
    demo.add_argument("--port", type=int, default=7860)
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 to share on a network)")
    bench = commands.add_parser("bench", help="print speed and quality figures (see BENCHMARKS.md)", add_help=False)
    bench.add_argument("name", nargs="?", default="--help")
    weights = commands.add_parser("weights", help="list the shipped weights, add a run's weights to them, or check "
                                  "that they score here as their model cards say")
    weights.add_argument("action", nargs="?", choices=("list", "add", "check"), default="list")
    weights.add_argument("rest", nargs="*", metavar="RUN_DIR NAME",
                         help="for add: the run folder and the new name; for check: the names to check (default: "
                         "all; on the CPU, without the baselines and critics that `translate eval` trains)")
    weights.add_argument("--eval-data", action="append",
                         help="for add: data to score the weights on, repeatable (default: the training data)")
    weights.add_argument("--note", default="", help="for add: a remark for the model card (how the run ended...)")
    weights.add_argument("--half", action="store_true", help="for add: store fp16 (half the size)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "train":
            if len(argv) == 1 or argv[1:] in (["--help"], ["-h"]):
                from .pipelines import PIPELINES

                print("usage: translate train PIPELINE --data PATH --run DIR [--steps N | --epochs N] [options]\n"
                      "       translate train --resume DIR\n\n"
                      f"pipelines: {', '.join(PIPELINES)}\n"
                      "translate train PIPELINE --help lists every option with its default.")
                return 0 if len(argv) > 1 else 2
            return command_train(argv[1:])
        parser = _main_parser()
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if args.command == "bench":
            return command_bench(args, extra)
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return {"infer": command_infer, "eval": command_eval, "export": command_export, "demo": command_demo,
                "weights": command_weights}[args.command](args)
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.filename is None:  # not about a path the user gave: a bug to report with its traceback
            raise
        print(f"error: {error.filename}: {_path_problem(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _path_problem(error: OSError) -> str:
    """What an OSError about a path means for the user, in a few words."""
    import errno

    advice = {errno.EEXIST: "exists and is not a folder; give a folder path (it is created if missing)",
              errno.ENOTDIR: "a part of this path is a file, not a folder; give a folder path",
              errno.EACCES: "permission denied; choose a place you can write to",
              errno.ENOSPC: "the disk is full; free some space"}
    return advice.get(error.errno, error.strerror or str(error))


if __name__ == "__main__":
    sys.exit(main())
