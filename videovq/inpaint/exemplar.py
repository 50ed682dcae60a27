"""Texture for generated cells, taken from where the video shows the same code.

A code of the per-video tokenizer stands for a 16x16 (or 8x8) cell, and its decoder draws every cell smooth: the
fine detail that made two cells of grass or water differ is lost in the code. The video still shows that detail
around the hole, on the cells whose every pixel is known. `exemplar_detail` gives each cell that no frame of the
chunk shows (under a static logo, subtitle or object) the fine detail (the frame minus its Gaussian blur) of the
known cell whose code and neighbouring codes are nearest to the ones predicted there (as vectors of the codebank),
in the same frame, else in the nearest frame with known cells. Cells some frame shows are left alone: a moving hole
or propagation changes what is generated there from frame to frame, and copied detail would flicker. So are the
pixels where the scene around the hole moves in most frames (`mostly_still`): on a moving camera the codes predicted
for a cell change from frame to frame, and so would its source.

Comparing the neighbourhood, not the code alone, lets cells of one repeated code take different sources that fit
their surroundings instead of tiling one source. The choice is a plain function of the codes, so a still scene
whose codes do not change gets the same detail in every frame. The copied detail is scaled down to the amount of
detail around the hole (the membrane of the known cells' RMS detail), never up.
"""

from __future__ import annotations

import cv2
import numpy as np

from videovq.inpaint.propagation import harmonic_fill


def exemplar_detail(
    frames: np.ndarray, codes: np.ndarray, known: np.ndarray, embeddings: np.ndarray, factor: int, sigma: float
) -> np.ndarray:  # fmt: skip
    """Fine detail for the cells no frame shows, copied from the known cell whose codes are nearest to the predicted
    ones.

    Args:
        frames: uint8 (T, H, W, 3), H and W multiples of `factor` (the padded working frames).
        codes: (T, h, w) int codes, predicted where `known` is False.
        known: (T, h, w) bool, cells whose every pixel is the video's own.
        embeddings: (K, d) the code vectors: cells are compared by the vectors of their code and their 8
            neighbours' codes; ties (the same codes) go to the nearest cell in the frame.
        factor: pixels per cell side.
        sigma: the detail is what a Gaussian blur of this standard deviation (pixels) removes.

    Returns:
        float32 (T, H, W, 3): the copied detail in the cells unknown in every frame, 0 elsewhere (and everywhere if
        no frame has a source cell).
    """
    num_frames, h, w = codes.shape
    # A source cell must be known with its 8 neighbours known too (outside the grid counts as known), so its blur
    # did not read hole pixels.
    ring = np.ones((3, 3), np.uint8)
    source = np.stack(
        [cv2.erode(k.astype(np.uint8), ring, borderType=cv2.BORDER_CONSTANT, borderValue=1) for k in known]
    ).astype(bool)
    with_sources = np.nonzero(source.any(axis=(1, 2)))[0]
    detail = np.zeros(frames.shape, np.float32)
    if len(with_sources) == 0:
        return detail
    context = _context(codes, embeddings)
    cells = np.stack(np.mgrid[0:h, 0:w], -1).reshape(-1, 2).astype(np.float32)  # (h*w, 2) cell (y, x)
    # Only cells no frame of the chunk shows get detail: the others change from frame to frame (a moving hole, or
    # propagation filling part of it), and detail copied there flickers.
    targets = np.nonzero((~known).all(axis=0).reshape(-1))[0]
    if len(targets) == 0:
        return detail
    for t in range(num_frames):
        s = int(with_sources[np.abs(with_sources - t).argmin()])  # this frame, else the nearest with sources
        sources = np.nonzero(source[s].reshape(-1))[0]
        code_gap = _squared_distances(context[t][targets], context[s][sources])
        cell_gap = _squared_distances(cells[targets], cells[sources])
        # Nearest code first; the cell distance (at most h^2 + w^2) only orders cells whose codes are equally near.
        scale = max(float(code_gap.max()), 1e-12) / (1 + h * h + w * w) * 1e-3
        picked = sources[(code_gap + scale * cell_gap).argmin(axis=1)]
        high = _high_pass(frames[s], sigma)
        # How much detail the surroundings have: each source cell's RMS detail, interpolated into the hole, so a
        # cell in a defocused region does not get the sharp detail of an in-focus one with a similar code.
        amplitude = np.sqrt((high.reshape(h, factor, w, factor, 3) ** 2).mean(axis=(1, 3, 4)))
        expected = harmonic_fill(amplitude, source[s]).reshape(-1)
        amplitude = amplitude.reshape(-1)
        for target, src in zip(targets, picked):
            ty, tx = divmod(int(target), w)
            sy, sx = divmod(int(src), w)
            gain = min(1.0, expected[target] / max(amplitude[src], 1e-6))
            detail[t, ty * factor : (ty + 1) * factor, tx * factor : (tx + 1) * factor] = gain * high[
                sy * factor : (sy + 1) * factor, sx * factor : (sx + 1) * factor
            ]
    return detail


# A pixel gets copied detail where the scene around it is still in at least this share of the chunk's frame pairs.
_STILL_SHARE = 0.5


def mostly_still(still: np.ndarray) -> np.ndarray:
    """bool (H, W): the pixels still (`videovq.inpaint.propagation.still_pixels`, bool (T, H, W)) in at least half of
    the chunk's frame pairs; none for a single frame."""
    if len(still) < 2:
        return np.zeros(still.shape[1:], bool)
    return still[1:].mean(axis=0, dtype=np.float32) >= _STILL_SHARE


def add_detail(fill: np.ndarray, detail: np.ndarray, where: np.ndarray) -> None:
    """Add `detail` (at the working scale) to `fill` (in place) at the pixels `where` marks, in every frame.

    Args:
        fill: uint8 (T, H, W, 3) at full size.
        detail: float32 (T, h, w, 3), from `exemplar_detail` times its gain, cut to the working frames' size.
        where: bool (H, W), from `mostly_still`. One mask for the whole chunk: a pixel gets detail in every frame or
            in none, so detail does not switch on and off as objects pass by.
    """
    height, width = fill.shape[1:3]
    for t in np.nonzero(detail.any(axis=(1, 2, 3)))[0]:
        scaled = detail[t] if detail.shape[1:3] == (height, width) else cv2.resize(detail[t], (width, height))
        fill[t][where] = np.clip(fill[t][where] + scaled[where], 0, 255).round().astype(np.uint8)


def _context(codes: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """(T, h*w, 9d): each cell's code vector and its 8 neighbours' (edge cells repeat the edge)."""
    num_frames, h, w = codes.shape
    padded = np.pad(codes, ((0, 0), (1, 1), (1, 1)), mode="edge")
    vectors = [embeddings[padded[:, dy : dy + h, dx : dx + w]] for dy in (0, 1, 2) for dx in (0, 1, 2)]
    return np.concatenate(vectors, -1).reshape(num_frames, h * w, -1)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) squared Euclidean distances between the rows of `a` (n, d) and `b` (m, d)."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T, 0)


def _high_pass(frame: np.ndarray, sigma: float) -> np.ndarray:
    image = frame.astype(np.float32)
    return image - cv2.GaussianBlur(image, (0, 0), sigma)

