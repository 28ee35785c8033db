"""The table registry: for each kind of table, its line in the command line's list, the function that builds it,
the metric files it reads, the experiments it reports on and the paper's number it stands beside. The command line
(`jointdiff report table --kind`) and the workflow (one `table` rule over these kinds, and `all_tables()`) both read
it, so a table is one entry here, its builder and its caption `report/table_<kind>.rst`.

Free of pandas: `--help` and the workflow read it at parse time, so a builder is named here and imported only when
its table is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from jointdiff import keys as K
from jointdiff.errors import ConfigError

if TYPE_CHECKING:
    from jointdiff.report.table_format import ReportTable


@dataclass(frozen=True)
class TableKind:
    description: str    # one line: what the table shows
    builder: str        # "<module of jointdiff.report>.<function>": (inputs, **the options below) -> ReportTable
    experiments: str    # the experiment group it reports on (rules/common.smk: TABLE_EXPERIMENTS); the workflow
                        # makes the table when this group is not empty
    inputs: str         # the metric files it reads: a set that rules/report.smk turns into files (TABLE_INPUTS)
    paper: str | None = None          # the config/paper_results.yaml number its paper column shows: --paper, and
                                      # the builder gets paper_path
    checks_experiments: bool = False  # --experiments (the experiment of each input, checked): the builder gets
                                      # experiments

    def builder_function(self) -> Callable[..., ReportTable]:
        module, function = self.builder.rsplit(".", 1)
        return getattr(import_module(f"jointdiff.report.{module}"), function)


TABLES: dict[str, TableKind] = {
    "accuracy": TableKind("test accuracy of the joint head, raw and EMA weights, against the paper's",
                          "tables.accuracy_table", "classifier", "accuracy", paper=K.PAPER_ACCURACY,
                          checks_experiments=True),
    "fid": TableKind("FID / precision / recall / KID, one row per metric file, against the paper's FID",
                     "tables.fid_table", "generative", "fid", paper=K.PAPER_FID),
    "guidance": TableKind("target-class accuracy of classifier-guided samples for each alpha",
                          "tables.guidance_table", "guided", "guided_scores"),
    "semi_supervised": TableKind("test accuracy per label share, the joint model beside the classifier-only baseline",
                                 "study_tables.joint_vs_classifier_only_table", "semi_supervised", "accuracy"),
    "domain_adaptation": TableKind("accuracy on the target domain, the joint model beside the classifier-only "
                                   "baseline", "study_tables.joint_vs_classifier_only_table", "domain_adaptation",
                                   "accuracy"),
    "conditional_generation": TableKind("guided samples by the joint head and by classic guidance: both judges, FID, "
                                        "P/R", "study_tables.conditional_generation_table", "classic_guidance",
                                        "conditional_generation"),
    "probe": TableKind("linear-probe test accuracy per encoder block and timestep of frozen models",
                       "study_tables.probe_table", "probe", "probe"),
}


def kinds_with(option: str) -> list[str]:
    """The kinds whose builders take `option` ("paper" or "checks_experiments")."""
    return [kind for kind, table in TABLES.items() if getattr(table, option)]


def build_table(kind: str, inputs: Sequence[Path], *, experiments: Sequence[str] | None = None,
                paper: Path | None = None) -> ReportTable:
    """The `kind` table from `inputs`; a table with a paper column needs the paper's numbers."""
    table = TABLES[kind]
    if table.paper and paper is None:
        raise ConfigError(f"--kind {kind} needs --paper (config/paper_results.yaml)")
    if not table.paper and paper is not None:
        raise ConfigError(f"--paper does not apply to --kind {kind}")
    if experiments is not None and not table.checks_experiments:
        raise ConfigError(f"--experiments applies to --kind {', '.join(kinds_with('checks_experiments'))} only, "
                          f"not {kind}")
    options = ({"paper_path": paper} if table.paper else {}) | (
        {"experiments": experiments} if table.checks_experiments else {})
    return table.builder_function()(inputs, **options)
