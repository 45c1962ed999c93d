"""What the console shows: the composed config as a tree and the final metrics as a table."""

from __future__ import annotations

from collections.abc import Mapping

import rich
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
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


CI_SUFFIXES = ("_ci_low", "_ci_high")
MIN_WIDTH = 110
DELONG = "_delong"


def print_metrics_table(metrics: Mapping[str, float], title: str = "Test metrics") -> None:
    """One row per metric, its 95% interval (`<key>_ci_low/high`) beside it, DeLong's too."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI (bootstrap over patients)")
    for key, value in metrics.items():
        if key.endswith(CI_SUFFIXES):
            continue
        interval = _interval(metrics, key)
        if delong := _interval(metrics, key + DELONG):
            interval += f"; DeLong {delong}"
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value), interval)
    console = rich.get_console()
    # a log file is as wide as the longest key needs, not 80 columns
    Console(width=max(console.width, MIN_WIDTH)).print(table)


def _interval(metrics: Mapping[str, float], key: str) -> str:
    low, high = (metrics.get(key + suffix) for suffix in CI_SUFFIXES)
    if low is None or high is None:
        return ""
    return f"[{low:.3f}, {high:.3f}]"
