"""The ``neuralmd`` command: ``neuralmd <command> [key=value ...]``.

Every command is a function ``run(cfg, overrides) -> None`` on a Hydra config composed from
``neuralmd/conf/<command>.yaml`` and its groups (``model/``, ``data/``, ``trainer/``), with the
command line's overrides applied, e.g.::

    neuralmd train trainer.epochs=2 model=gnnmd
    neuralmd evaluate checkpoints=[runs/a,runs/b]
    neuralmd train --cfg            # print the composed config and stop
    neuralmd train --help           # every setting of the command with its YAML comment

The config is composed with Hydra's compose API rather than ``@hydra.main`` so that one process
can host several commands, tests can call :func:`main` in-process, and a bad override ends in one
readable line instead of a stack trace (set ``NEURALMD_DEBUG=1`` to see the trace).
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig

__all__ = ["main", "compose", "command_help", "COMMANDS", "CONFIG_DIR", "UsageError"]

#: Command name -> "module:function". Modules are imported only when their command runs, so
#: ``neuralmd --help`` stays fast. A ``benchmark`` command plugs in by adding its entry here.
COMMANDS: dict[str, str] = {
    "train": "neuralmd.cli._train:run",
    "evaluate": "neuralmd.cli._evaluate_command:run",
    "simulate": "neuralmd.cli._simulate:run",
    "export": "neuralmd.cli._export:run",
}

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"

_HELP = """usage: neuralmd <command> [key=value ...] [--cfg | --help]

commands:
  train      train a dynamics model, evaluate it against the baselines, export a prediction
  evaluate   metrics table (Tables 1-3 layout) for checkpoints and baselines on one data set
  simulate   predict a ligand trajectory for one complex with a trained model
  export     write a saved prediction or a ground-truth trajectory as .xyz/.traj/.pdb/.dcd/.xtc

Overrides use Hydra syntax: trainer.epochs=2 model=gnnmd data=misato data.path=MD.hdf5
Config groups: model={models}  data={data}
neuralmd <command> --help lists every setting with its comment; --cfg prints the composed config.
See docs/cli.md."""


class UsageError(Exception):
    """A problem with what the user asked for; reported as one line, exit status 2."""


def _group_options(group: str) -> str:
    return ",".join(sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml")))


def compose(command: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The config of ``command`` with ``overrides`` applied (Hydra override grammar).

    Raises:
        UsageError: unknown key, group option or malformed override, in one sentence.
    """
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3", job_name=command):
            return hydra_compose(config_name=command, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise UsageError(f"bad override: {_hydra_message(err)}") from err


def _hydra_message(err: Exception) -> str:
    """Hydra's multi-line message cut to what matters: the override and the reason.

    Hydra adds advice (HYDRA_FULL_ERROR, search paths, "To append ... use +key") and indented
    key dumps; keep its first statement and the first line of the root cause.
    """
    text = str(err)
    group = re.search(r"Could not find '([^']+)'.*?Available options in '([^']+)':\n((?:\t[^\n]*\n?)*)",
                      text, re.S)
    if group:
        options = ", ".join(ln.strip() for ln in group.group(3).splitlines() if ln.strip())
        return f"no config '{group.group(1)}'; {group.group(2)}= takes one of {options}"
    first = text.strip().splitlines()[0].rstrip(".") if text.strip() else type(err).__name__
    root = err
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__
    reason = str(root).strip().splitlines()[0] if root is not err and str(root).strip() else ""
    reason = "" if reason == "None" else reason
    if "is not in struct" in reason:
        reason += " (no such setting; list them with --cfg, add new ones with +key=value)"
    return f"{first}: {reason}" if reason and reason not in first else first


def command_help(command: str, overrides: Sequence[str] = ()) -> str:
    """``neuralmd <command> --help``: every setting with its comment, as the YAML files say it.

    The command's own file comes first, then the file of each config group (``model``, ``data``,
    ``trainer``) the command uses, the option chosen by ``overrides`` (``model=gnnmd``) or the default.
    """
    import yaml

    own = (CONFIG_DIR / f"{command}.yaml").read_text()
    chosen = {o.split("=", 1)[0]: o.split("=", 1)[1] for o in overrides if "=" in o and "." not in o.split("=", 1)[0]}
    defaults = (yaml.safe_load(own) or {}).get("defaults", [])
    parts = [f"usage: neuralmd {command} [key=value ...]   (--cfg prints the composed config)\n",
             f"# ---- {command}.yaml: keys as key=value", own.rstrip()]
    for entry in defaults:
        if not isinstance(entry, dict):
            continue
        ((group, option),) = entry.items()
        option = chosen.get(group, option)
        path = CONFIG_DIR / group / f"{option}.yaml"
        if option is not None and path.is_file():
            parts += [f"\n# ---- {group}/{option}.yaml: keys as {group}.<key>=value "
                      f"(other {group}= options: {_group_options(group)})", path.read_text().rstrip()]
    return "\n".join(parts)


def _split_flags(args: list[str]) -> tuple[list[str], set[str]]:
    flags = {a for a in args if a.startswith("-")}
    return [a for a in args if not a.startswith("-")], flags


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neuralmd`` console script; returns the exit status.

    Status 0 on success, 2 for a usage error (unknown command, bad override, missing required
    value), 1 for bad input data or a failed run (missing file, invalid record). Errors are one
    line on stderr: ``neuralmd <command>: error: <what>``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_HELP.format(models=_group_options("model"), data=_group_options("data")))
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"neuralmd: error: unknown command {command!r}; choose from {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    overrides, flags = _split_flags(rest)
    unknown = flags - {"--cfg", "-h", "--help"}
    try:
        if unknown:
            raise UsageError(f"unknown option(s) {' '.join(sorted(unknown))}; "
                             "pass settings as key=value (see --cfg)")
        cfg = compose(command, overrides)
        from omegaconf import OmegaConf
        if flags & {"-h", "--help"}:
            print(command_help(command, overrides))
            return 0
        if "--cfg" in flags:
            print(OmegaConf.to_yaml(cfg), end="")
            return 0
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:   # checked before the (slow) import of the command's module
            raise UsageError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required; "
                             f"pass {missing[0]}=...")
        module, func = COMMANDS[command].split(":")
        getattr(importlib.import_module(module), func)(cfg, overrides)
        return 0
    except KeyboardInterrupt:
        print(f"neuralmd {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the one place that turns failures into messages
        if os.environ.get("NEURALMD_DEBUG"):
            raise
        print(f"neuralmd {command}: error: {_describe(err)}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) or _is_missing_value(err) else 1


def _is_missing_value(err: Exception) -> bool:
    from omegaconf.errors import MissingMandatoryValue
    return isinstance(err, MissingMandatoryValue)


def _describe(err: Exception) -> str:
    """One line saying what went wrong, without the stack."""
    from omegaconf.errors import MissingMandatoryValue
    if isinstance(err, MissingMandatoryValue):
        key = getattr(err, "full_key", None) or "a required value"
        return f"{key} is required; pass {key}=..."
    if isinstance(err, FileNotFoundError) and err.filename:
        return f"file not found: {err.filename}"
    text = " ".join(str(err).split()) or type(err).__name__
    return text if isinstance(err, (UsageError, ValueError)) else f"{type(err).__name__}: {text}"
