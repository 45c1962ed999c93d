"""The core: tensors, arrays and files in, tensors, arrays and files out.

Data (records, cohort, splits, preprocessing, masks, synthetic faces), models (the backbone
protocol and its providers, the levers' model parts), losses, metrics, explanation maps and
statistics. Nothing here loads Lightning, Hydra, OmegaConf or matplotlib's plotting, or imports
`train` or `analysis` (checked by the import contracts in pyproject.toml).
"""
