"""Finished runs, read from their folders: load one for use (predict, export, validate), the
report, sweep summaries, the cohort explanation, figures and console tables. Never imports
`train` (no LightningModule, no training stack): only `core`."""
