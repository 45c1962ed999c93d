"""Which class folder is the positive (ICAS) one: read from the folder names whatever their
case or separators, or named by `data.positive_class`; never guessed from the sort order.

A wrong guess is silent and total: sensitivity, specificity, the threshold and every
`prob_positive` would describe the controls. So a name must say which class it is, and when
neither does the run stops and asks for `data.positive_class`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from thermal_icas.core.errors import DatasetError

log = logging.getLogger(__name__)

# words in a class folder's name that mark it; a negating word wins over a positive one, so
# `non_icas`, `ICAS-negative` and `no_icas` are controls
NEGATIVE_WORDS = frozenset(
    {"non", "no", "not", "without", "negative", "neg", "control", "controls", "healthy", "normal"}
)
POSITIVE_WORDS = frozenset({"icas", "positive", "pos", "case", "cases", "stenosis"})
POSITIVE, NEGATIVE, UNKNOWN = "positive", "negative", "unknown"


@dataclass(frozen=True)
class ClassInfo:
    """Class ids come from sorted names, so they never depend on directory listing order."""

    names: tuple[str, ...]
    positive: str

    @property
    def positive_index(self) -> int:
        return self.names.index(self.positive)

    @property
    def negative(self) -> str:
        return next(name for name in self.names if name != self.positive)

    def predicted(self, prob_positive: float, threshold: float) -> str:
        """The screening decision: positive when the probability exceeds the threshold."""
        return self.positive if prob_positive > threshold else self.negative


def words(name: str) -> list[str]:
    """`Non_ICAS` -> ['non', 'icas']; a `non` glued to the next word (`nonicas`) splits off."""
    found = []
    for word in re.findall(r"[a-z0-9]+", name.lower()):
        if word.startswith("non") and len(word) > len("non"):
            found += ["non", word[len("non") :]]
        else:
            found.append(word)
    return found


def role(name: str) -> str:
    """What a folder name says about its class: POSITIVE, NEGATIVE or UNKNOWN."""
    found = set(words(name))
    if found & NEGATIVE_WORDS:
        return NEGATIVE
    return POSITIVE if found & POSITIVE_WORDS else UNKNOWN


def _named(names: list[str], positive_class: str, source: str) -> str:
    """The folder `data.positive_class` names: exactly, else the one equal to it up to case and
    separators (`icas` picks `ICAS`)."""
    if positive_class in names:
        return positive_class
    matches = [name for name in names if words(name) == words(positive_class)]
    if len(matches) != 1:
        raise DatasetError(
            f"data.positive_class='{positive_class}' is not one of the classes {names} ({source})"
        )
    return matches[0]


def _from_names(names: list[str], source: str) -> str:
    roles = [role(name) for name in names]
    positive = [name for name, said in zip(names, roles, strict=True) if said == POSITIVE]
    if len(positive) == 1:
        return positive[0]
    if roles.count(NEGATIVE) == 1 and roles.count(UNKNOWN) == 1:
        return names[roles.index(UNKNOWN)]
    raise DatasetError(
        f"{source}: cannot tell from the class folder names {names} which one holds the ICAS "
        f"patients; set data.positive_class=<one of {names}>"
    )


def resolve_classes(names: list[str], positive_class: str | None, source: str) -> ClassInfo:
    """Both classes, with the positive one set by `data.positive_class` or read from the names;
    the choice is always logged, as a wrong one inverts every result."""
    if len(names) != 2:
        raise DatasetError(
            f"{source}: found {len(names)} class folder(s) {names}; "
            "binary screening needs exactly 2"
        )
    if positive_class is None:
        chosen, how = _from_names(names, source), "read from the folder names"
    else:
        chosen, how = _named(names, positive_class, source), "data.positive_class"
    classes = ClassInfo(names=tuple(names), positive=chosen)
    log.info(
        "%s: positive (ICAS) class '%s', negative '%s' (%s)", source, chosen, classes.negative, how
    )
    return classes
