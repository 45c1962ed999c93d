"""Clinical covariates as model features: imputed, standardised and one-hot encoded with
statistics of the training patients alone, so val and test patients leak nothing into them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from thermal_icas.core.data.clinical_table import ClinicalTable


class ClinicalFeatures:
    """Numeric columns: median-imputed, then standardised; categorical ones: the most frequent
    value imputed, then one-hot (a category unseen in training is all zeros)."""

    def __init__(self, table: ClinicalTable) -> None:
        self.table = table
        self.numeric: Pipeline | None = None
        self.categorical: Pipeline | None = None

    def fit(self, train_patients: Sequence[str]) -> ClinicalFeatures:
        numeric, categorical = self._columns(train_patients)
        if numeric.shape[1]:
            self.numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
            self.numeric.fit(numeric)
        if categorical.shape[1]:
            self.categorical = make_pipeline(
                SimpleImputer(strategy="most_frequent", missing_values=None),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            )
            self.categorical.fit(categorical)
        return self

    def transform(self, patients: Sequence[str]) -> np.ndarray:
        """(patients, features) float32, in the order of `names`."""
        numeric, categorical = self._columns(patients)
        parts = [np.empty((len(patients), 0))]
        if self.numeric is not None:
            parts.append(self.numeric.transform(numeric))
        if self.categorical is not None:
            parts.append(self.categorical.transform(categorical))
        return np.hstack(parts).astype(np.float32)

    @property
    def names(self) -> list[str]:
        names = list(self.table.numeric)
        if self.categorical is not None:
            encoder = self.categorical[-1]
            names += list(encoder.get_feature_names_out(list(self.table.categorical)))
        return names

    def _columns(self, patients: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        self.table.require(patients)
        numeric = np.array(
            [[column[p] for column in self.table.numeric.values()] for p in patients], float
        ).reshape(len(patients), len(self.table.numeric))
        categorical = np.array(
            [[column[p] for column in self.table.categorical.values()] for p in patients],
            dtype=object,
        ).reshape(len(patients), len(self.table.categorical))
        return numeric, categorical
