"""The same picture under two patients or two classes: found by a perceptual hash of every
image, compared by Hamming distance. Within one patient a copy is harmless; across patients
it can put one person in train and test (a leak), across classes it contradicts its label."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import imagehash
import numpy as np
from PIL import Image
from scipy.spatial import cKDTree

from thermal_icas.core.data.imageio import Look, load_rgb
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

# a 256-bit pHash: with 64 bits (hash_size 8) different real faces on black met at distance 0
HASH_SIZE = 16
# part of every cache key: raise it when decoding or the hash changes
CACHE_VERSION = 1
ON_DUPLICATES = ("warn", "error", "merge")
# pairs logged one by one; the rest are counted
LOGGED_PAIRS = 20


@dataclass(frozen=True)
class DuplicatePair:
    """Two images of different patients within `distance` bits of each other."""

    first: ImageRecord
    second: ImageRecord
    distance: int

    @property
    def across_classes(self) -> bool:
        return self.first.label != self.second.label

    def describe(self, class_names: Sequence[str], splits: dict[str, str] | None = None) -> str:
        def side(record: ImageRecord) -> str:
            split = f", {splits[record.path]}" if splits else ""
            return f"'{record.path}' (patient {record.patient}, {class_names[record.label]}{split})"

        text = f"{side(self.first)} and {side(self.second)} are the same image"
        text += f" (Hamming distance {self.distance})"
        if self.across_classes:
            text += " under both classes"
        if splits and splits[self.first.path] != splits[self.second.path]:
            text += f": they are in {splits[self.first.path]} and {splits[self.second.path]}"
            text += ": a leak"
        return text


def image_hash(path: str | Path, look: Look = load_rgb) -> np.ndarray:
    """The pHash bits of an image as the run decodes it (upright, 16-bit scaled, temperatures in
    their window), grey; shrunk first to the size pHash reads (4 x HASH_SIZE), which makes it
    cheap at any resolution."""
    side = 4 * HASH_SIZE
    small = cv2.resize(look(path), (side, side), interpolation=cv2.INTER_AREA)
    picture = Image.fromarray(np.rint(small.mean(axis=2) * 255).astype(np.uint8))
    return imagehash.phash(picture, hash_size=HASH_SIZE).hash.ravel()


class HashCache:
    """Hashes stored by file content, like the masks: one small file per image, shared across
    runs, so a run decodes an image for its hash once."""

    def __init__(self, root: str | Path | None, look: Look = load_rgb, look_key: str = "") -> None:
        self.root = None if root is None else Path(root)
        self.look = look
        self.look_key = f":{look_key}" if look_key else ""

    def __call__(self, path: str | Path) -> np.ndarray:
        if self.root is None:
            return image_hash(path, self.look)
        digest = hashlib.sha1(Path(path).read_bytes())
        digest.update(f"{CACHE_VERSION}:{HASH_SIZE}{self.look_key}".encode())
        name = digest.hexdigest()
        stored = self.root / name[:2] / f"{name}.txt"
        bits = HASH_SIZE * HASH_SIZE
        if stored.is_file():
            text = stored.read_text().strip()
            if len(text) == bits // 4:
                return np.unpackbits(np.frombuffer(bytes.fromhex(text), np.uint8)).astype(bool)
        bits_of = image_hash(path, self.look)
        stored.parent.mkdir(parents=True, exist_ok=True)
        temporary = stored.with_name(f".{uuid.uuid4().hex}.txt")
        temporary.write_text(np.packbits(bits_of).tobytes().hex())
        os.replace(temporary, stored)
        return bits_of


def find_duplicates(
    records: Sequence[ImageRecord], hashes: HashCache, max_distance: int
) -> list[DuplicatePair]:
    """Every pair of images of different patients whose hashes differ in at most
    `max_distance` bits (a k-d tree on the bits: L1 distance is Hamming distance)."""
    if max_distance < 0:
        raise ConfigError(f"data.duplicate_distance={max_distance} must be >= 0")
    if len(records) < 2:
        return []
    bits = np.stack([hashes(record.path) for record in records]).astype(np.uint8)
    close = cKDTree(bits).query_pairs(r=max_distance, p=1, output_type="ndarray")
    pairs = []
    for i, j in sorted(map(tuple, close)):
        first, second = records[i], records[j]
        if first.patient != second.patient:
            distance = int((bits[i] != bits[j]).sum())
            pairs.append(DuplicatePair(first, second, distance))
    return pairs


def screen_duplicates(
    candidates: Sequence[tuple[ImageRecord, str | None]],
    cache_dir: Path,
    max_distance: int,
    on_duplicates: str,
    class_names: Sequence[str],
    look: Look = load_rgb,
    look_key: str = "",
) -> tuple[list[tuple[ImageRecord, str | None]], list[DuplicatePair]]:
    """The images to split (patients merged with `merge`) and the pairs found across
    patients; hashes of the images as they `look` are cached under cache_dir/hashes."""
    records = [record for record, _ in candidates]
    hashes = HashCache(cache_dir / "hashes", look, look_key)
    pairs = find_duplicates(records, hashes, max_distance)
    return resolve_duplicates(candidates, pairs, on_duplicates, class_names), pairs


def resolve_duplicates(
    candidates: Sequence[tuple[ImageRecord, str | None]],
    pairs: Sequence[DuplicatePair],
    on_duplicates: str,
    class_names: Sequence[str],
) -> list[tuple[ImageRecord, str | None]]:
    """The images to split: unchanged for `warn`; `error` stops at the first pair; `merge`
    makes the patients of each pair one patient (ids joined by '+'), which a pair across
    classes, or across splits already fixed, cannot be."""
    if on_duplicates not in ON_DUPLICATES:
        raise ConfigError(
            f"data.on_duplicates='{on_duplicates}' is not one of {list(ON_DUPLICATES)}"
        )
    if not pairs or on_duplicates == "warn":
        return list(candidates)
    if on_duplicates == "error" or any(pair.across_classes for pair in pairs):
        pair = next((p for p in pairs if p.across_classes), pairs[0])
        reason = "the images' labels contradict" if pair.across_classes else "an image leaks"
        raise DatasetError(
            f"{pair.describe(class_names)}; {len(pairs)} such pair(s), {reason} "
            f"(data.on_duplicates={on_duplicates}; data.duplicate_distance sets how close)"
        )
    group = {record.patient: record.patient for record, _ in candidates}

    def root(patient: str) -> str:
        while group[patient] != patient:
            patient = group[patient]
        return patient

    for pair in pairs:
        group[root(pair.second.patient)] = root(pair.first.patient)
    members: dict[str, set[str]] = {}
    for patient in group:
        members.setdefault(root(patient), set()).add(patient)
    merged = {p: "+".join(sorted(members[root(p)])) for p in group}
    fixed: dict[str, str | None] = {}
    for record, split in candidates:
        other = fixed.setdefault(merged[record.patient], split)
        if other != split:
            raise DatasetError(
                f"data.on_duplicates=merge cannot join patients {merged[record.patient]}: one "
                f"is {other or 'to be split'}, one {split or 'to be split'} (data.split_file or "
                "data.test_dir fixes a split)"
            )
    log.warning(
        "data.on_duplicates=merge: %d patient(s) joined into %d",
        sum(len(m) for m in members.values() if len(m) > 1),
        sum(len(m) > 1 for m in members.values()),
    )
    return [
        (dataclasses.replace(record, patient=merged[record.patient]), split)
        for record, split in candidates
    ]


def report_duplicates(
    pairs: Sequence[DuplicatePair],
    rows: Sequence[tuple[ImageRecord, str]],
    class_names: Sequence[str],
) -> None:
    """Log each pair with both paths and splits; pairs that cross splits are leaks."""
    if not pairs:
        log.info("No image is the same picture as another patient's (data.duplicate_distance)")
        return
    splits = {record.path: split for record, split in rows}
    leaks = sum(splits[p.first.path] != splits[p.second.path] for p in pairs)
    log.warning(
        "%d pair(s) of images of different patients look the same, %d of them across splits "
        "(data.duplicate_distance, data.on_duplicates=merge treats their patients as one)",
        len(pairs),
        leaks,
    )
    for pair in pairs[:LOGGED_PAIRS]:
        log.warning("Duplicate: %s", pair.describe(class_names, splits))
    if len(pairs) > LOGGED_PAIRS:
        log.warning("... and %d more pair(s)", len(pairs) - LOGGED_PAIRS)
