"""What the console shows: the composed config as a tree and the final metrics as a table."""

from __future__ import annotations

from collections.abc import Mapping

import rich
from omegaconf import DictConfig, OmegaConf
from rich.table import Table
from rich.tree import Tree

FIRST_FIELDS = ("data", "mask", "asymmetry", "attention", "model", "loss", "training", "trainer")


def print_config_tree(cfg: DictConfig) -> None:
    tree = Tree("config", guide_style="dim")
    ordered = [k for k in FIRST_FIELDS if k in cfg] + [k for k in cfg if k not in FIRST_FIELDS]
    for key in ordered:
        branch = tree.add(f"[bold]{key}[/bold]")
        value = cfg[key]
        if isinstance(value, DictConfig):
            branch.add(OmegaConf.to_yaml(value, resolve=True).rstrip() or "{}")
        else:
            branch.add(str(value))
    rich.print(tree)


def print_metrics_table(metrics: Mapping[str, float], title: str = "Test metrics") -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    rich.print(table)
