"""Put the face upright with its midline at the image's centre column, once, at preprocessing.

Comparing a face's left half with its mirrored right half only means something when the two
halves hold the same anatomy: a head tilted by 5 degrees already shifts the eyes by several
pixels against each other. The tilt is read from the face mask's principal axis (image
moments) and undone; the midline is then the column about which the mask is most
mirror-symmetric, searched near its centroid (the bounding box centre is pulled off by an
ear, a hair line or a collar).
"""

from __future__ import annotations

import cv2
import numpy as np

# tilts beyond this are taken as a mask failure, not a head pose, and left alone
MAX_TILT_DEGREES = 30.0
# a nearly round mask has no defined principal axis
MIN_ELONGATION = 1.05
# midline search: +- this share of the face width around the centroid, on masks this wide
SEARCH_SHARE = 0.1
SEARCH_WIDTH = 128


def face_tilt(face: np.ndarray) -> float:
    """Degrees the face's long axis leans from vertical (positive: the top leans to the
    image-right); 0 when the mask is empty, round, or implausibly tilted."""
    moments = cv2.moments((face > 0.5).astype(np.uint8), binaryImage=True)
    if moments["m00"] == 0:
        return 0.0
    mu20, mu02, mu11 = moments["mu20"], moments["mu02"], moments["mu11"]
    spread = np.sqrt(4 * mu11**2 + (mu20 - mu02) ** 2)
    major, minor = (mu20 + mu02 + spread) / 2, (mu20 + mu02 - spread) / 2
    if minor <= 0 or major / minor < MIN_ELONGATION**2 or mu02 <= mu20:
        return 0.0
    # angle of the major axis from the image's y axis; y runs down, so a top leaning right
    # means the axis runs from lower-left to upper-right: negative covariance
    tilt = -np.degrees(0.5 * np.arctan2(2 * mu11, mu02 - mu20))
    return float(tilt) if abs(tilt) <= MAX_TILT_DEGREES else 0.0


def face_midline(face: np.ndarray | None, width: int) -> float:
    """The column (in pixels from the left edge) the face is most mirror-symmetric about;
    the image centre when no face is found."""
    if face is None:
        return width / 2
    binary = face > 0.5
    columns = np.flatnonzero(binary.any(axis=0))
    if columns.size == 0:
        return width / 2
    scale = min(1.0, SEARCH_WIDTH / binary.shape[1])
    small = cv2.resize(
        binary.astype(np.float32),
        (max(1, round(binary.shape[1] * scale)), max(1, round(binary.shape[0] * scale))),
        interpolation=cv2.INTER_AREA,
    )
    mass = small.sum(axis=0)
    centroid = float((mass * (np.arange(mass.size) + 0.5)).sum() / mass.sum())
    reach = max(1, round(SEARCH_SHARE * (columns[-1] - columns[0] + 1) * scale))
    best, best_overlap = centroid, -1.0
    for axis in np.arange(centroid - reach, centroid + reach + 0.5, 0.5):
        overlap = _mirror_overlap(small, axis)
        if overlap > best_overlap:
            best, best_overlap = axis, overlap
    return best / scale


def _mirror_overlap(mask: np.ndarray, axis: float) -> float:
    """Overlap of a mask with its mirror image about the vertical line x = axis."""
    width = mask.shape[1]
    source = 2 * axis - (np.arange(width) + 0.5)
    index = np.floor(source).astype(int)
    valid = (index >= 0) & (index < width)
    mirrored = np.zeros_like(mask)
    mirrored[:, valid] = mask[:, index[valid]]
    return float(np.minimum(mask, mirrored).sum())


def align_on_midline(
    picture: np.ndarray, face: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The picture and its face mask turned upright about the mask's centroid, then padded on
    one side with background so the face's midline becomes the centre column."""
    tilt = face_tilt(face)
    if tilt != 0.0:
        moments = cv2.moments((face > 0.5).astype(np.uint8), binaryImage=True)
        centre = (moments["m10"] / moments["m00"], moments["m01"] / moments["m00"])
        turn = cv2.getRotationMatrix2D(centre, tilt, 1.0)
        size = (picture.shape[1], picture.shape[0])
        picture = cv2.warpAffine(
            picture, turn, size, flags=cv2.INTER_LINEAR, borderValue=background.tolist()
        )
        face = cv2.warpAffine(face.astype(np.float32), turn, size, flags=cv2.INTER_LINEAR)
    midline = face_midline(face, picture.shape[1])
    return _centre(picture, midline, background), _centre(face, midline, np.zeros(1))


def _centre(image: np.ndarray, midline: float, background: np.ndarray) -> np.ndarray:
    left, right = midline, image.shape[1] - midline
    pad = round(abs(left - right))
    if pad == 0:
        return image
    padding = (0, 0, pad, 0) if left < right else (0, 0, 0, pad)
    return cv2.copyMakeBorder(image, *padding, cv2.BORDER_CONSTANT, value=background.tolist())
