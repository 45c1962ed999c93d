"""Training: Lightning and Hydra around the core.

The config composed at the top (`config`), the DataModule, the stages' LightningModules
(`lit`), callbacks for the side outputs, resume, the run folder, DDP jobs and the pipeline that
runs the stages. May import `analysis` (a finished run's report) and `core`.
"""
