"""The `jointdiff` command line: one subcommand per pipeline stage.

Each stage lives in `jointdiff/commands/<name>.py` and provides `add_arguments(parser)` and `run(args)`.
Only the chosen command's module is imported, and command modules import torch and the library inside
`run`, after the arguments are checked, so a bad flag fails in well under a second.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from jointdiff.errors import UserError

# command name -> help; the module is jointdiff.commands.<name with - as _>. In pipeline order.
COMMANDS = {
    "experiments": "List the experiments of this checkout: dataset, steps, GPUs, paper run or ours.",
    "launch": "Run a command as a workflow job: on GPUs of its own (held while it runs), one process per GPU.",
    "prepare": "Download or verify a dataset and write its manifest.",
    "summary": "Print the UNet's and the joint head's sizes for an experiment config.",
    "train": "Train a joint diffusion model (resumes by itself; run under torchrun for several processes).",
    "noised-classifier": "Train the noised classifier of classic guidance (the conditional-generation baseline).",
    "sample": "Generate unconditional or classifier-guided samples from a trained model.",
    "counterfactual": "Visual counterfactual explanations of real test images.",
    "accuracy": "Classifier accuracy of the joint head on clean (and noised) test images.",
    "independent-classifier": "Train an independent classifier on a dataset's real training split.",
    "score": "Target-class accuracy of guided samples (own head and independent classifier).",
    "fid": "FID / precision / recall / KID of samples against a dataset split (torch-fidelity).",
    "probe": "Linear probes of a frozen model's encoder: test accuracy per encoder block and timestep.",
    "track-metrics": "Attach an experiment's final metrics to its training's TensorBoard / W&B run.",
    "report": "Tables and figures from metric files.",
    "rebuild": "Every table and figure again from existing results, through the workflow, and no other job.",
}


def command_module(name: str):
    return importlib.import_module(f"jointdiff.commands.{name.replace('-', '_')}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only `command` (if given) gets its module imported and its options added."""
    parser = argparse.ArgumentParser(prog="jointdiff", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=help_text)
            continue
        module = command_module(name)
        p = sub.add_parser(name, help=help_text, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def error_line(command: str, err: UserError) -> str:
    """The one line a UserError prints; under torchrun every rank prints its own, ranks past 0 say which they are."""
    rank = int(os.environ.get("RANK", "0"))
    return f"jointdiff {command}: error{f' (rank {rank})' if rank else ''}: {err}\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args._module.run(args) or 0
    except UserError as err:
        # One write for the whole line: print() writes the newline apart, and on unbuffered stderr (PYTHONUNBUFFERED)
        # the ranks' lines would interleave.
        sys.stderr.write(error_line(args.command, err))
        sys.stderr.flush()
        return 2
