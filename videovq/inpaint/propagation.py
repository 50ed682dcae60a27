"""Flow-guided pixel propagation: fill the hole from what other frames show (pipeline step 2).

A pixel hidden in one frame is often visible in another (the camera pans, the object moves on). Like the
propagation stage of flow-guided video inpainting (FGVC, Gao et al. ECCV 2020; E2FGVI; ProPainter's "dual-domain
propagation"), we follow optical flow from each hole pixel to the frames around it and copy the colour found there,
so that only what *no* frame shows is left for the generative model.

How (`propagate`):

1. **Flow on the valid region.** Frames go to grayscale (optionally downscaled to `max_side`), each hole is filled
   with a smooth membrane (`harmonic_fill`) so its made-up content is featureless, and OpenCV DIS estimates the
   forward (t-1 -> t) and backward (t -> t-1) flow of every consecutive pair.
2. **Flow completion** (FGVC's idea, with a Laplace fill instead of their gradient-domain one): flow vectors inside
   the hole dilated by `flow_margin` px, or whose target lands in the other frame's dilated hole, were matched
   against made-up content; they are discarded and replaced by the harmonic interpolation of the flow around them.
   A hole over a moving object thus gets the motion of the background around it: what object removal wants.
3. **Forward-backward check** (Ruder et al. 2016, as in `videovq.metrics.consistency`): a hole pixel may follow its
   completed flow to the neighbour frame only if the neighbour's flow there leads back to it and the target is
   inside the frame.
4. **Two chained passes** (FGVC): forward t = 1..T-1 takes each hole pixel from frame t-1, which may itself have
   been filled in this pass, so content travels across many frames; backward t = T-2..0 does the same from t+1.
   We chain *source coordinates*, not colours: each filled pixel remembers which original valid pixel (frame,
   sub-pixel x, y) it comes from, and its colour is sampled there once at the end. Chaining colours would blur a
   little at every hop (one bilinear resampling per frame travelled); chaining coordinates is exact for integer
   motion and resamples once for sub-pixel motion.
5. **Merge**: where both passes found a source, the temporally nearer one wins (less accumulated flow error, less
   change of lighting); at equal distance the two colours are averaged.
6. **Still scene, exact copies** (`still_copies`, on by default). On a still camera the estimated flow is noise,
   and colour carried along it drifts (up to 7.7 dB below a plain copy on still clips). Two checks, each tested against the
   data rather than assumed: in step 2, a textured valid pixel gets zero flow where zero motion predicts the
   neighbour frame at least as well as the estimated flow does (`_still`), and so does a hole pixel where most
   such decided pixels around it are still; after the passes, a hole pixel no chain reached is copied from the
   same position in the nearest frame before or after it that shows it, where the known pixels around it differ
   between the two frames by no more than twice the video's noise floor (`_copy_where_still`).

Pixels outside the hole are never modified (bit-exact), and `remaining` says which hole pixels found no source.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import cv2
import numpy as np

from videovq.errors import InputError
from videovq.flow import MIN_FLOW_SIDE, estimate_flow
from videovq.metrics.psnr_ssim import check_video

FLOW_PRESETS = ("fast", "medium")

# DIS refuses images whose larger side is < 12 px; tiny frames are edge-padded to this size for the flow.
# Forward-backward consistency (Ruder et al. 2016): |f + b|^2 < _FB_ALPHA (|f|^2 + |b|^2) + _FB_BETA, in flow px.
_FB_ALPHA = 0.01
_FB_BETA = 0.5
# `harmonic_fill`'s multigrid: V-cycles, damped-Jacobi sweeps before and after each coarse correction, the
# damping that smooths the 5-point Laplacian best (4/5), and sweeps on the coarsest grid (at most 2 px a side).
_V_CYCLES = 3
_SWEEPS = 3
_DAMPING = 0.8
_COARSEST_SWEEPS = 20
# Still scene (see `_still`): a valid pixel whose 5x5-mean grey-level gradient is above _STILL_MIN_GRADIENT
# levels/px can tell zero motion from a small one; a hole pixel gets zero flow where over half of the decided pixels
# around it are still.
_STILL_MIN_GRADIENT = 4.0
_STILL_SHARE = 0.5
# `_copy_where_still`: the window (px) over which two frames' known pixels are compared, the fewest known pixels it
# must hold, and the noise floor: this percentile of the windows' mean differences between consecutive frames,
# times _NOISE_FACTOR, is the largest difference still counted as "unchanged", within [_MIN_TOLERANCE,
# _MAX_TOLERANCE] grey levels. The cap is sensor noise of a few levels: a smooth texture panning uniformly has a
# narrow spread of window differences too, and a floor of 15 levels there would be motion, not noise.
_COPY_WINDOW = 15
_FULL_WINDOW = _COPY_WINDOW * _COPY_WINDOW // 2  # a window at least half known counts as full
_COPY_MIN_KNOWN = 8
_NOISE_PERCENTILE = 10
_NOISE_FACTOR = 2.0
_NOISE_BINS = 4096
_MIN_TOLERANCE = 0.5
_MAX_TOLERANCE = 4.0
# ...and a copy between two frames needs at least this share of their fully known windows unchanged (a share
# measured on every second pixel that is within _SHARE_DOUBT of it is measured again on all pixels).
_STILL_PAIR_SHARE = 0.5
_SHARE_DOUBT = 0.15
# Source coordinates of the 4 bilinear taps must agree within this many px to be interpolated (else: nearest tap).
_MAX_TAP_SPREAD = 2.0
# Mean of the 4 neighbours: the 5-point Laplacian is mean4(u) - u (up to h^2 / 4).
_LAPLACE_KERNEL = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)


class PropagationResult(NamedTuple):
    """What `propagate` returns.

    Attributes:
        frames: uint8 ``(T, H, W, 3)``: the input with hole pixels filled where some frame shows them; every pixel
            outside the hole is bit-exact equal to the input, and `remaining` pixels keep their input values.
        remaining: bool ``(T, H, W)``: hole pixels that no frame could fill (subset of the hole).
        filled_fraction: filled hole pixels / hole pixels; 1.0 when the hole is empty (nothing remains).
        seconds: wall-clock time of the call.
    """

    frames: np.ndarray
    remaining: np.ndarray
    filled_fraction: float
    seconds: float


class _Hop(NamedTuple):
    """The completed flow from the hole pixels of one frame to a neighbour frame, in full-resolution pixels."""

    dx: np.ndarray  # float32 (N,), N = hole pixels of the frame in np.nonzero order
    dy: np.ndarray
    ok: np.ndarray  # bool (N,): target inside the frame and forward-backward consistent


class _Sources(NamedTuple):
    """For each hole pixel of one frame: the original valid pixel its colour comes from (frame -1 = none)."""

    frame: np.ndarray  # int32 (N,)
    x: np.ndarray  # float32 (N,), sub-pixel position in that frame
    y: np.ndarray


def propagate(
    frames: np.ndarray,
    hole: np.ndarray,
    *,
    max_side: int | None = None,
    preset: str = "medium",
    flow_margin: int = 4,
    max_distance: int | None = None,
    still_copies: bool = True,
) -> PropagationResult:
    """Fill hole pixels with colours that other frames show, following completed optical flow.

    Args:
        frames: uint8 ``(T, H, W, 3)`` RGB, T >= 1.
        hole: bool ``(T, H, W)``, True = hole (pixel values there are ignored).
        max_side: estimate the flow on frames downscaled so that their longer side is at most this (>= 16), then
            upscale it; None = full resolution. Colours are always taken at full resolution.
        preset: DIS optical-flow preset, "medium" (default, more accurate) or "fast" (about 4x faster flow).
        flow_margin: flow vectors within this many px (at flow resolution) of a hole are re-interpolated, since
            DIS's patches there overlap the made-up hole content.
        max_distance: take colours only from frames at most this many frames away (>= 1); None = any frame. Every
            hop follows an interpolated flow, so the error grows with the distance: on real footage whose hole
            hides independently moving things, a limit leaves far-fetched pixels to the generative model instead.
        still_copies: copy exactly where the scene is still (step 6 above) instead of following noisy flow there;
            False is the plain flow propagation of steps 1-5.

    Returns:
        A `PropagationResult`.
    """
    start = time.perf_counter()
    hole = _check_inputs(frames, hole, max_side, preset, flow_margin, max_distance)
    num_frames = frames.shape[0]
    out = frames.copy()
    total = int(hole.sum())
    if total == 0 or num_frames == 1:
        filled_fraction = 1.0 if total == 0 else 0.0
        return PropagationResult(out, hole.copy(), filled_fraction, time.perf_counter() - start)

    back, fwd = _pair_hops(frames, hole, max_side, preset, flow_margin, still_copies)
    limit = num_frames if max_distance is None else max_distance
    # Each pass consumes its hops, and each merged frame its sources: per-hole-pixel arrays are freed as soon as
    # they are used, which bounds the peak on long chunks of large holes.
    from_prev = _chain(hole, back, range(1, num_frames), -1, limit)  # forward pass: sources in earlier frames
    from_next = _chain(hole, fwd, range(num_frames - 2, -1, -1), +1, limit)  # backward pass: later frames
    remaining = hole.copy()
    for t in range(num_frames):
        if hole[t].any():
            _merge_into(out, remaining, t, frames, hole, from_prev[t], from_next[t])
        from_prev[t] = from_next[t] = None
    if still_copies:
        _copy_where_still(out, remaining, frames, hole, limit)
    filled_fraction = 1.0 - float(remaining.sum()) / total
    return PropagationResult(out, remaining, filled_fraction, time.perf_counter() - start)


def harmonic_fill(values: np.ndarray, known: np.ndarray, cycles: int = _V_CYCLES) -> np.ndarray:
    """Fill unknown pixels with the harmonic (membrane, Laplace-equation) interpolation of the known ones.

    This is how FGVC-style flow completion interpolates a flow field into a hole, and how we make a hole featureless
    before estimating flow. Solved by multigrid on the bounding box of the unknown pixels: a push-pull pyramid
    (known-weighted block means, upsampled back) gives the first guess, then `cycles` V-cycles of the residual
    equation with damped-Jacobi smoothing on the 5-point Laplacian. Known pixels are Dirichlet boundary values, the
    frame border is zero-gradient (Neumann). Time is linear in the box's pixels; each V-cycle cuts the error by
    about 2.5-3x (measured; coarse cells that touch a known pixel are held at zero, which costs some speed near the
    boundary but keeps every level well posed), so the default 3 cycles leave ~1 % of the push-pull guess's error.

    Args:
        values: float32 ``(H, W)`` or ``(H, W, C)``.
        known: bool ``(H, W)``, True where `values` is given.
        cycles: number of V-cycles (>= 0; 0 = push-pull only).

    Returns:
        float32 array shaped like `values`: known pixels unchanged; unknown pixels interpolated, or 0 everywhere
        if no pixel is known (nothing to interpolate from).
    """
    values = np.asarray(values, dtype=np.float32)
    squeeze = values.ndim == 2
    vals = values[..., None] if squeeze else values
    if known.shape != vals.shape[:2]:
        raise ValueError(f"known {known.shape} does not match values {values.shape}")
    if not known.any():
        filled = np.zeros_like(vals)
    elif known.all():
        filled = vals.copy()
    else:
        filled = vals.copy()
        ys, xs = np.nonzero(~known)
        height, width = known.shape
        # The box's rim is known (Dirichlet) unless it is the frame border (Neumann, like the replicate padding).
        box = (
            slice(max(0, ys.min() - 1), min(height, ys.max() + 2)),
            slice(max(0, xs.min() - 1), min(width, xs.max() + 2)),
        )
        filled[box] = _solve_laplace(np.ascontiguousarray(vals[box]), known[box], cycles)
    return filled[..., 0] if squeeze else filled


def still_pixels(frames: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Where the scene around the hole is still: the pixels of the hole or next to it whose known surroundings have
    not changed since the frame before.

    Frame by frame, a pixel of the hole or next to it (the pixels that gradient-domain compositing reads) in this
    frame and the one before is still where the known pixels around it have not changed between the two frames: the
    test of the still-scene copy (`_window_difference` within the video's noise tolerance; deep inside the hole, the
    interpolated differences of the known pixels around it).

    Args:
        frames: uint8 ``(T, H, W, 3)``: the known pixels, read outside the hole only.
        hole: bool ``(T, H, W)``.

    Returns:
        bool ``(T, H, W)``: True where pixel (y, x) of frame t may keep frame t-1's fill; frame 0 is all False.
    """
    still = np.zeros(hole.shape, bool)
    if hole.shape[0] < 2 or not hole.any() or not any(_may_be_still(frames, hole, t) for t in range(1, len(hole))):
        return still
    gray = _Gray(frames)
    tolerance = _noise_tolerance(gray, hole)
    still_pairs = _StillPairs(gray, hole, tolerance)
    ring = np.ones((3, 3), np.uint8)
    near_before = cv2.dilate(hole[0].astype(np.uint8), ring).astype(bool)
    for t in range(1, hole.shape[0]):
        near = cv2.dilate(hole[t].astype(np.uint8), ring).astype(bool)
        ys, xs = np.nonzero(near & near_before)
        near_before = near
        if ys.size == 0:
            continue
        previous = np.full(ys.size, t - 1, np.int32)
        held = _window_difference(gray, hole, t, previous, ys, xs, still_pairs) <= tolerance
        still[t, ys[held], xs[held]] = True
    return still


def hold_still(generated: np.ndarray, still: np.ndarray) -> None:
    """Keep a generated fill the same from frame to frame where the scene around it is still (in place).

    A generator predicts each frame's fill anew, so small changes of its input make the fill of a still region
    flicker, where the truth does not change. Frame by frame, the pixels `still` marks (`still_pixels`) take the
    frame before's (already held) value. In place, since a chunk's copy is hundreds of MB at 1080p.

    Args:
        generated: uint8 ``(T, H, W, 3)``: the fill.
        still: bool ``(T, H, W)`` from `still_pixels`.
    """
    for t in np.nonzero(still.any(axis=(1, 2)))[0]:
        generated[t][still[t]] = generated[t - 1][still[t]]


def _may_be_still(frames: np.ndarray, hole: np.ndarray, t: int) -> bool:
    """False where `_StillPairs` cannot find frames t-1 and t still: their share of unchanged windows on every second
    pixel is too low even at the largest tolerance. Cheap (a quarter of two frames), so that a moving camera, the
    usual case, costs no more."""
    pair = (slice(t - 1, t + 1), slice(None, None, 2), slice(None, None, 2))
    share = _still_share(_Gray(frames[pair]), hole[pair], 1, 0, _MAX_TOLERANCE, step=1, window=_COPY_WINDOW // 2)
    return share >= _STILL_PAIR_SHARE - _SHARE_DOUBT


# -- step 1-3: completed, checked flow of every consecutive pair -----------------------------------------------------
def _pair_hops(
    frames: np.ndarray, hole: np.ndarray, max_side: int | None, preset: str, flow_margin: int, still: bool
) -> tuple[list[_Hop | None], list[_Hop | None]]:
    """For each frame t: the checked hop of its hole pixels to t-1 (`back[t]`) and to t+1 (`fwd[t]`)."""
    num_frames, height, width = hole.shape
    scale = 1.0 if max_side is None else min(1.0, max_side / max(height, width))
    low = (max(1, round(width * scale)), max(1, round(height * scale)))  # (w, h) of the flow grid
    dis = cv2.DISOpticalFlow_create(
        cv2.DISOPTICAL_FLOW_PRESET_FAST if preset == "fast" else cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    )
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * flow_margin + 1,) * 2)
    back: list[_Hop | None] = [None] * num_frames
    fwd: list[_Hop | None] = [None] * num_frames
    prev = _flow_input(frames[0], hole[0], low, kernel)
    for t in range(1, num_frames):
        cur = _flow_input(frames[t], hole[t], low, kernel)
        flow_fwd = _completed_flow(dis, prev, cur, still)  # t-1 -> t
        flow_back = _completed_flow(dis, cur, prev, still)  # t -> t-1
        fwd[t - 1] = _hop(hole[t - 1], flow_fwd, flow_back)
        back[t] = _hop(hole[t], flow_back, flow_fwd)
        prev = cur
    return back, fwd


class _FlowInput(NamedTuple):
    gray: np.ndarray  # uint8 (h, w): the frame at flow resolution, hole filled smoothly
    unreliable: np.ndarray  # bool (h, w): the hole at flow resolution, dilated by flow_margin
    smooth: np.ndarray  # float32 (h, w): `gray` box-blurred (5x5), to compare frames at zero motion through noise


def _flow_input(frame: np.ndarray, hole: np.ndarray, low: tuple[int, int], kernel: np.ndarray) -> _FlowInput:
    gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    hole_u8 = hole.astype(np.uint8)
    if low != (frame.shape[1], frame.shape[0]):
        gray = cv2.resize(gray, low, interpolation=cv2.INTER_AREA)
        # A low-res pixel that sees any hole pixel is a hole pixel.
        hole_u8 = (cv2.resize(hole_u8.astype(np.float32), low, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    hole_low = hole_u8.astype(bool)
    # A featureless (membrane) fill gives DIS nothing to lock onto inside the hole (FGVC fills before flow too).
    filled = harmonic_fill(gray.astype(np.float32), ~hole_low, cycles=1)  # only needs to be smooth
    gray = np.where(hole_low, np.clip(filled + 0.5, 0, 255).astype(np.uint8), gray)
    smooth = cv2.blur(gray.astype(np.float32), (5, 5))
    return _FlowInput(gray, cv2.dilate(hole_u8, kernel).astype(bool), smooth)


def _completed_flow(dis: cv2.DISOpticalFlow, src: _FlowInput, dst: _FlowInput, still_copies: bool) -> np.ndarray:
    """Flow src -> dst at flow resolution, re-interpolated wherever it was matched against made-up hole content."""
    flow = estimate_flow(dis, src.gray, dst.gray)
    h, w = src.gray.shape
    grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
    lands_in_hole = cv2.remap(
        dst.unreliable.astype(np.uint8),
        grid_x + flow[..., 0],
        grid_y + flow[..., 1],
        cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    ).astype(bool)
    known = ~(src.unreliable | lands_in_hole)
    if not still_copies:
        return harmonic_fill(flow, known)
    still, decided = _still(src, dst, flow, known)
    flow[still] = 0.0
    completed = harmonic_fill(flow, known)
    if not known.all():
        # A hole pixel is still where most of the decided pixels around it are: its interpolated flow would be a
        # small residue of the few moving or noisy vectors there, and colour carried along it drifts.
        shares = harmonic_fill(np.dstack([still, decided]).astype(np.float32), known, cycles=1)
        completed[~known & (shares[..., 0] > _STILL_SHARE * np.maximum(shares[..., 1], 1e-6))] = 0.0
    return completed


def _still(src: _FlowInput, dst: _FlowInput, flow: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the scene does not move between src and dst (bool (h, w)), and where that can be told at all.

    On a still camera DIS returns small noisy vectors; copying along them blurs and drifts, while the right flow is
    exactly zero (the pixel is then copied bit-exact from the nearest frame that shows it). The test is the data's:
    a pixel is still where zero motion predicts dst (5x5 mean grey levels, robust to sensor noise) at least as well
    as the estimated flow does. A fixed threshold on the change instead (a pixel of gradient g moving v px changes
    by about g * v) passed slow pans of a few tenths of a pixel per frame as still, and zero flow chained over many
    frames then drifted by pixels (up to 0.7 dB lost on moving-camera clips). Flat pixels cannot tell either way
    and are left out ("undecided").
    """
    gx = cv2.Sobel(src.smooth, cv2.CV_32F, 1, 0, ksize=3) / 8.0  # levels per px
    gy = cv2.Sobel(src.smooth, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    decided = known & ~dst.unreliable & (np.sqrt(gx**2 + gy**2) > _STILL_MIN_GRADIENT)
    h, w = flow.shape[:2]
    grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
    warped = cv2.remap(
        dst.smooth, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    still = decided & (np.abs(src.smooth - dst.smooth) <= np.abs(src.smooth - warped))
    return still, decided


def _hop(hole: np.ndarray, flow: np.ndarray, inverse: np.ndarray) -> _Hop | None:
    """Follow `flow` (to the neighbour) from the hole pixels; check it against the neighbour's `inverse` flow."""
    ys, xs = np.nonzero(hole)
    if ys.size == 0:
        return None
    height, width = hole.shape
    h, w = flow.shape[:2]
    sx, sy = w / width, h / height  # full-res px -> flow-grid px
    xs_f, ys_f = xs.astype(np.float32), ys.astype(np.float32)
    d = _bilinear(flow, (xs_f + 0.5) * sx - 0.5, (ys_f + 0.5) * sy - 0.5)  # in flow-grid px
    px, py = xs_f + d[:, 0] / sx, ys_f + d[:, 1] / sy
    inside = (px >= -0.5) & (px < width - 0.5) & (py >= -0.5) & (py < height - 0.5)
    back = _bilinear(inverse, (px + 0.5) * sx - 0.5, (py + 0.5) * sy - 0.5)
    round_trip = ((d + back) ** 2).sum(axis=1)
    magnitude = (d**2).sum(axis=1) + (back**2).sum(axis=1)
    ok = inside & (round_trip < _FB_ALPHA * magnitude + _FB_BETA)
    return _Hop(px - xs_f, py - ys_f, ok)


# -- step 4: chained passes ------------------------------------------------------------------------------------------
def _chain(
    hole: np.ndarray, hops: list[_Hop | None], order: range, step: int, max_distance: int
) -> list[_Sources | None]:
    """One propagation pass: frame t takes sources from frame t+step (already processed in this pass). Each hop
    is used once and dropped from `hops`."""
    num_frames, height, width = hole.shape
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    sources: list[_Sources | None] = [None] * num_frames
    for t in order:
        hop, hops[t] = hops[t], None
        if hop is None:
            continue
        n = t + step
        src_frame, src_x, src_y = _dense_sources(n, hole[n], sources[n], grid_x, grid_y)
        ys, xs = np.nonzero(hole[t])
        found = _follow(hop, xs + hop.dx, ys + hop.dy, src_frame, src_x, src_y)
        found.frame[np.abs(found.frame - t) > max_distance] = -1
        sources[t] = found
    return sources


def _dense_sources(
    n: int, hole: np.ndarray, sources: _Sources | None, grid_x: np.ndarray, grid_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel source maps of frame n: valid pixels are their own source, hole pixels what the pass found."""
    src_frame = np.full(hole.shape, n, np.int32)
    src_x, src_y = grid_x.copy(), grid_y.copy()
    if sources is None:
        src_frame[hole] = -1
    else:
        src_frame[hole], src_x[hole], src_y[hole] = sources
    return src_frame, src_x, src_y


def _follow(
    hop: _Hop, px: np.ndarray, py: np.ndarray, src_frame: np.ndarray, src_x: np.ndarray, src_y: np.ndarray
) -> _Sources:
    """Look up the source of the neighbour-frame positions (px, py) in its source maps."""
    height, width = src_frame.shape
    qx = np.clip(np.rint(px), 0, width - 1).astype(np.intp)
    qy = np.clip(np.rint(py), 0, height - 1).astype(np.intp)
    frame = np.where(hop.ok, src_frame[qy, qx], -1)
    # Nearest known tap, shifted by the sub-pixel offset (motion is locally a translation)...
    x = src_x[qy, qx] + (px - qx)
    y = src_y[qy, qx] + (py - qy)
    # ...or, where all 4 bilinear taps come from the same place of the same frame, their bilinear interpolation
    # (exact for any smooth local motion, e.g. zoom).
    x0 = np.clip(np.floor(px), 0, width - 2 if width > 1 else 0).astype(np.intp)
    y0 = np.clip(np.floor(py), 0, height - 2 if height > 1 else 0).astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    taps = [(y0, x0), (y0, x1), (y1, x0), (y1, x1)]
    same = np.ones(px.shape, bool)
    for ty, tx in taps:
        same &= src_frame[ty, tx] == frame
    tap_x = np.stack([src_x[ty, tx] for ty, tx in taps])
    tap_y = np.stack([src_y[ty, tx] for ty, tx in taps])
    same &= (np.ptp(tap_x, axis=0) <= _MAX_TAP_SPREAD) & (np.ptp(tap_y, axis=0) <= _MAX_TAP_SPREAD)
    ax = np.clip(px - x0, 0, 1).astype(np.float32)
    ay = np.clip(py - y0, 0, 1).astype(np.float32)
    weights = np.stack([(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay])
    x = np.where(same, (weights * tap_x).sum(axis=0), x).astype(np.float32)
    y = np.where(same, (weights * tap_y).sum(axis=0), y).astype(np.float32)
    return _Sources(frame.astype(np.int32), x, y)


# -- step 5: merge and sample ----------------------------------------------------------------------------------------
def _merge_into(
    out: np.ndarray,
    remaining: np.ndarray,
    t: int,
    frames: np.ndarray,
    hole: np.ndarray,
    from_prev: _Sources | None,
    from_next: _Sources | None,
) -> None:
    """Write frame t's hole pixels that have a source; the nearer pass wins, ties are averaged."""
    ys, xs = np.nonzero(hole[t])
    colours, found, distances = [], [], []
    for sources in (from_prev, from_next):
        if sources is None:
            colours.append(np.zeros((ys.size, 3), np.float32))
            found.append(np.zeros(ys.size, bool))
            distances.append(np.zeros(ys.size, np.int64))
            continue
        colour, ok = _sample_valid(frames, hole, sources)
        colours.append(colour)
        found.append(ok)
        distances.append(np.abs(sources.frame.astype(np.int64) - t))
    (c_prev, c_next), (ok_prev, ok_next), (d_prev, d_next) = colours, found, distances
    use_prev = ok_prev & (~ok_next | (d_prev < d_next))
    use_next = ok_next & (~ok_prev | (d_next < d_prev))
    both = ok_prev & ok_next & (d_prev == d_next)
    colour = np.where(use_prev[:, None], c_prev, c_next)
    colour = np.where(both[:, None], 0.5 * (c_prev + c_next), colour)
    filled = use_prev | use_next | both
    out[t, ys[filled], xs[filled]] = np.clip(colour[filled] + 0.5, 0, 255).astype(np.uint8)
    remaining[t, ys[filled], xs[filled]] = False


def _copy_where_still(
    out: np.ndarray, remaining: np.ndarray, frames: np.ndarray, hole: np.ndarray, max_distance: int
) -> None:
    """Copy a hole pixel that no chain reached from the same position in the nearest frame that shows it, where the
    known pixels vouch for a still scene.

    Position (y, x) of frame t may take its colour from frame s (the nearest frame before t, or after it, that shows
    the position) when frames t and s are still as a whole and the known pixels of both around the position agree
    (`_window_difference` within `_noise_tolerance`); the side with the smaller difference wins. Pixels that flow
    propagation filled are left alone: there a chain of checked hops already found a source.
    """
    if not remaining.any():
        return
    gray = _Gray(frames)
    tolerance = _noise_tolerance(gray, hole)
    still_pairs = _StillPairs(gray, hole, tolerance)
    num_frames = hole.shape[0]
    sides = [
        _nearest_visible(hole, remaining, range(num_frames)),
        _nearest_visible(hole, remaining, range(num_frames - 1, -1, -1)),
    ]
    for t in np.nonzero(remaining.any(axis=(1, 2)))[0]:
        ys, xs = np.nonzero(remaining[t])
        best = np.full(ys.size, np.inf, np.float32)
        source = np.full(ys.size, -1, np.int32)
        for side in sides:
            candidates = side[t]
            candidates[np.abs(candidates - t) > max_distance] = -1
            difference = _window_difference(gray, hole, t, candidates, ys, xs, still_pairs)
            better = (candidates >= 0) & (difference < best)
            best[better], source[better] = difference[better], candidates[better]
        ok = (source >= 0) & (best <= tolerance)
        out[t, ys[ok], xs[ok]] = frames[source[ok], ys[ok], xs[ok]]
        remaining[t, ys[ok], xs[ok]] = False


def _noise_tolerance(gray: "_Gray", hole: np.ndarray) -> float:
    """The largest mean difference of two frames' windows still taken as "unchanged": twice the noise floor.

    The floor is a low percentile of the window means of |frame t - frame t-1| over known pixels: on a still camera
    most windows differ by sensor noise only, and on a moving one the flat windows do, so the floor is the noise
    either way while the motion of textured windows lies far above it.
    """
    # A histogram, not the list of all window means (4 bytes per pixel of the chunk): only floors below
    # _MAX_TOLERANCE / _NOISE_FACTOR matter (above, the tolerance is capped), so bins of 1/2048 grey level up to
    # there and one bin for everything above give the percentile to within a bin.
    top = _MAX_TOLERANCE / _NOISE_FACTOR
    counts = np.zeros(_NOISE_BINS + 1, np.int64)
    for t in range(1, len(gray)):
        mean, count = _window_means(gray, hole, t, t - 1)
        values = mean[count >= _FULL_WINDOW]
        counts[:-1] += np.histogram(values, bins=_NOISE_BINS, range=(0.0, top))[0]
        counts[-1] += int((values > top).sum())
    if not counts.sum():
        return _MIN_TOLERANCE
    rank = _NOISE_PERCENTILE / 100 * (counts.sum() - 1)
    bin_index = int(np.searchsorted(np.cumsum(counts), rank, side="right"))
    floor = top if bin_index >= _NOISE_BINS else (bin_index + 0.5) * top / _NOISE_BINS
    return float(np.clip(_NOISE_FACTOR * floor, _MIN_TOLERANCE, _MAX_TOLERANCE))


class _Gray:
    """The frames' grey levels (mean of RGB, float32) frame by frame, from the RGB sums kept as uint16: half the
    memory of a float copy of the chunk, and the same values (float32 holds the sums exactly)."""

    def __init__(self, frames: np.ndarray):
        # Channel by channel: numpy's reduction along the last (length-3) axis is several times slower.
        self.sums = frames[..., 0].astype(np.uint16)
        self.sums += frames[..., 1]
        self.sums += frames[..., 2]

    def __len__(self) -> int:
        return len(self.sums)

    def frame(self, t: int, box: tuple[slice, slice] = (slice(None), slice(None))) -> np.ndarray:
        return self.sums[t][box].astype(np.float32) / np.float32(3)


def _nearest_visible(hole: np.ndarray, remaining: np.ndarray, order: range) -> list[np.ndarray]:
    """Scanning frames in `order`: per frame t, for each of its `remaining` pixels (np.nonzero order), the latest
    frame so far that shows its position (-1: none). Memory: one frame-sized map, plus the per-pixel results."""
    found: list[np.ndarray] = [np.zeros(0, np.int32)] * hole.shape[0]
    index = np.full(hole.shape[1:], -1, np.int32)
    for t in order:
        if remaining[t].any():
            found[t] = index[remaining[t]]
        index[~hole[t]] = t
    return found


def _window_difference(
    gray: "_Gray", hole: np.ndarray, t: int, candidates: np.ndarray, ys: np.ndarray, xs: np.ndarray,
    still_pairs: "_StillPairs",
) -> np.ndarray:
    """Mean |gray[t] - gray[s]| over the known pixels of both frames in the window around each (ys, xs), s its
    candidate frame; inf where there is none, or where frames t and s are not still as a whole.

    A pair of frames is still as a whole when most of its fully known windows differ by at most `tolerance`. Only
    then may a hole pixel whose own window holds too few known pixels take the difference of the decided pixels
    around it (harmonic interpolation): deep inside a hole on a moving camera nothing vouches for a copy.
    """
    difference = np.full(ys.size, np.inf, np.float32)
    height, width = hole.shape[1:]
    reach = _COPY_WINDOW // 2
    for s in np.unique(candidates[candidates >= 0]):
        if not still_pairs.still(t, s):
            continue
        pick = np.nonzero(candidates == s)[0]
        # Only the windows around the picked pixels are needed: their bounding box, widened by a window's reach so
        # that every window lies inside it (the values are then those of the whole frame's windows).
        y0, x0 = max(int(ys[pick].min()) - reach, 0), max(int(xs[pick].min()) - reach, 0)
        y1, x1 = min(int(ys[pick].max()) + reach + 1, height), min(int(xs[pick].max()) + reach + 1, width)
        mean, count = _window_means(gray, hole, t, s, (slice(y0, y1), slice(x0, x1)))
        py, px = ys[pick] - y0, xs[pick] - x0
        enough = count[py, px] >= _COPY_MIN_KNOWN
        difference[pick[enough]] = mean[py[enough], px[enough]]
        if enough.any() and not enough.all():
            given = np.zeros(mean.shape, bool)
            given[py[enough], px[enough]] = True
            values = np.where(given, mean, 0).astype(np.float32)
            difference[pick[~enough]] = harmonic_fill(values, given, cycles=1)[py[~enough], px[~enough]]
    return difference


class _StillPairs:
    """Whether two frames are still as a whole: most of their fully known windows differ by at most the tolerance.

    Asked for most pairs of frames a hole pixel may copy between, so each pair is decided once (the test is
    symmetric), first on every second pixel of every second row (windows of half the width; a quarter of the work);
    only a share within _SHARE_DOUBT of the threshold is measured again on all pixels.
    """

    def __init__(self, gray: "_Gray", hole: np.ndarray, tolerance: float):
        self.gray, self.hole, self.tolerance = gray, hole, tolerance
        self.decided: dict[tuple[int, int], bool] = {}

    def still(self, t: int, s: int) -> bool:
        key = (min(t, s), max(t, s))
        if key not in self.decided:
            share = _still_share(self.gray, self.hole, t, s, self.tolerance, step=2)
            if abs(share - _STILL_PAIR_SHARE) <= _SHARE_DOUBT:
                share = _still_share(self.gray, self.hole, t, s, self.tolerance, step=1)
            self.decided[key] = share >= _STILL_PAIR_SHARE
        return self.decided[key]


def _still_share(
    gray: "_Gray", hole: np.ndarray, t: int, s: int, tolerance: float, step: int, window: int | None = None
) -> float:
    """The share of fully known windows of frames t and s that differ by at most `tolerance` (0 if none is full),
    on every `step`-th pixel (windows of `window` of those; default: _COPY_WINDOW pixels wide)."""
    window = window or _COPY_WINDOW // step
    grid = (slice(None, None, step), slice(None, None, step))
    mean, count = _window_means(gray, hole, t, s, grid, window)
    full = count >= window * window // 2
    return float((mean[full] <= tolerance).mean()) if full.any() else 0.0


def _window_means(
    gray: "_Gray", hole: np.ndarray, t: int, s: int, box: tuple[slice, slice] = (slice(None), slice(None)),
    window: int = _COPY_WINDOW,
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of `box` (slices, possibly strided): the mean |gray[t] - gray[s]| over the pixels known in both
    frames within the `window` around it, and how many there are (the mean is 0 where none is)."""
    known = (~hole[t][box] & ~hole[s][box]).astype(np.float32)
    kernel = (window, window)
    total = cv2.boxFilter(np.abs(gray.frame(t, box) - gray.frame(s, box)) * known, -1, kernel, normalize=False)
    count = cv2.boxFilter(known, -1, kernel, normalize=False)
    return total / np.maximum(count, 1.0), count


def _sample_valid(frames: np.ndarray, hole: np.ndarray, sources: _Sources) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear colour at each source position, using only the valid (non-hole) taps, renormalised.

    Returns:
        float32 ``(N, 3)`` colours and bool ``(N,)``: a source exists and has a valid tap with non-zero weight.
    """
    _, height, width = hole.shape
    has = sources.frame >= 0
    i00, right, down, ax, ay = _bilinear_taps(np.where(has, sources.x, 0), np.where(has, sources.y, 0), height, width)
    i00 += np.where(has, sources.frame, 0).astype(np.intp) * (height * width)  # into the flattened chunk
    pixels, holes = frames.reshape(-1, 3), hole.reshape(-1)
    colour = np.zeros((i00.size, 3), np.float32)
    total = np.zeros(i00.size, np.float32)
    for index, wgt in (
        (i00, (1 - ax) * (1 - ay)),
        (i00 + right, ax * (1 - ay)),
        (i00 + down, (1 - ax) * ay),
        (i00 + down + right, ax * ay),
    ):
        wgt = wgt * ~holes[index]
        colour += wgt[:, None] * pixels[index]
        total += wgt
    ok = has & (total > 1e-6)
    return colour / np.maximum(total, 1e-6)[:, None], ok


# -- helpers ---------------------------------------------------------------------------------------------------------
def _solve_laplace(values: np.ndarray, known: np.ndarray, cycles: int) -> np.ndarray:
    """`harmonic_fill` on one box: values (h, w, C) float32."""
    unknown = ~known
    u = np.where(known[..., None], values, _push_pull(values, known)).astype(np.float32)
    mask = unknown[..., None]
    for _ in range(cycles):
        residual = np.where(mask, _neighbour_mean(u) - u, 0).astype(np.float32)
        u += _v_cycle(residual, unknown)
    return u


def _push_pull(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A smooth guess everywhere: known-weighted block means down a pyramid, upsampled back into the gaps."""
    height, width = known.shape
    if min(height, width) <= 2:
        return np.broadcast_to(values[known].mean(axis=0), values.shape).astype(np.float32)
    weight = known.astype(np.float32)
    small = ((width + 1) // 2, (height + 1) // 2)
    num = _resize(values * weight[..., None], small, cv2.INTER_AREA)
    den = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
    coarse_known = den > 0
    coarse = num / np.maximum(den, 1e-12)[..., None]
    if not coarse_known.all():
        coarse = np.where(coarse_known[..., None], coarse, _push_pull(coarse, coarse_known))
    guess = _resize(coarse, (width, height), cv2.INTER_LINEAR)
    return np.where(known[..., None], values, guess).astype(np.float32)


def _v_cycle(rhs: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Approximately solve e - mean4(e) = rhs on `unknown`, e = 0 elsewhere (the correction equation)."""
    height, width = unknown.shape
    e = np.zeros_like(rhs)
    if min(height, width) <= 2:
        return _smooth(e, rhs, unknown, _COARSEST_SWEEPS)
    e = _smooth(e, rhs, unknown, _SWEEPS)
    residual = np.where(unknown[..., None], rhs + _neighbour_mean(e) - e, 0).astype(np.float32)
    small = ((width + 1) // 2, (height + 1) // 2)
    # A coarse cell is unknown only if all its fine pixels are: cells touching a known pixel keep e = 0, so the
    # coarse problem always has a boundary (with "any pixel unknown" a box's known rim vanishes after a level or
    # two, leaving the singular pure-Neumann problem). At twice the spacing the operator is 4x stronger.
    coarse_unknown = cv2.resize(unknown.astype(np.float32), small, interpolation=cv2.INTER_AREA) > 1 - 1e-4
    if coarse_unknown.any():
        coarse = _v_cycle(4.0 * _resize(residual, small, cv2.INTER_AREA), coarse_unknown)
        e += np.where(unknown[..., None], _resize(coarse, (width, height), cv2.INTER_LINEAR), 0)
    return _smooth(e, rhs, unknown, _SWEEPS)


def _smooth(e: np.ndarray, rhs: np.ndarray, unknown: np.ndarray, sweeps: int) -> np.ndarray:
    """Damped Jacobi sweeps for e - mean4(e) = rhs on `unknown` (e stays 0 elsewhere)."""
    step = np.where(unknown[..., None], _DAMPING, 0).astype(np.float32)
    for _ in range(sweeps):
        e += step * (_neighbour_mean(e) + rhs - e)
    return e


def _neighbour_mean(values: np.ndarray) -> np.ndarray:
    """Mean of the 4 neighbours, (h, w, C); replicate padding = zero gradient at the border."""
    out = cv2.filter2D(values, -1, _LAPLACE_KERNEL, borderType=cv2.BORDER_REPLICATE)
    return out.reshape(values.shape)


def _resize(values: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """cv2.resize of (H, W, C) that keeps the channel axis when C == 1."""
    out = cv2.resize(values, size, interpolation=interpolation)
    return out.reshape(size[1], size[0], values.shape[2])


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample ``(H, W, C)`` at float positions (N,), clamped to the border: ``(N, C)`` float32."""
    height, width = image.shape[:2]
    i00, right, down, ax, ay = _bilinear_taps(x, y, height, width)
    ax, ay = ax[:, None], ay[:, None]
    flat = image.reshape(height * width, -1)
    top = flat[i00] * (1 - ax) + flat[i00 + right] * ax
    bottom = flat[i00 + down] * (1 - ax) + flat[i00 + down + right] * ax
    return (top * (1 - ay) + bottom * ay).astype(np.float32, copy=False)


def _bilinear_taps(
    x: np.ndarray, y: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bilinear taps of positions (N,) clamped to a height x width image, as flat indices (one fancy index per
    tap, where (y, x) indexing needs two): the top-left tap's index, the steps to the right and down taps (0 at
    the last column / row), and the float32 weights towards them."""
    x = np.clip(x, 0, width - 1).astype(np.float32)
    y = np.clip(y, 0, height - 1).astype(np.float32)
    x0, y0 = np.floor(x), np.floor(y)
    i00 = y0.astype(np.intp) * width + x0.astype(np.intp)
    right = (x0 < width - 1).astype(np.intp)
    down = (y0 < height - 1).astype(np.intp) * width
    return i00, right, down, x - x0, y - y0


def _check_inputs(
    frames: np.ndarray,
    hole: np.ndarray,
    max_side: int | None,
    preset: str,
    flow_margin: int,
    max_distance: int | None,
) -> np.ndarray:
    check_video(frames, "frames")
    hole = np.asarray(hole)
    if hole.shape != frames.shape[:3]:
        raise InputError(f"hole shape {hole.shape} != video shape {frames.shape[:3]} (T, H, W); resize/trim the mask")
    if frames.shape[0] < 1:
        raise InputError("the video has no frames")
    if max_side is not None and max_side < MIN_FLOW_SIDE:
        raise InputError(f"max_side={max_side}: the flow needs frames of at least {MIN_FLOW_SIDE} px; use >= 16")
    if preset not in FLOW_PRESETS:
        raise InputError(f"preset={preset!r}: use one of {', '.join(FLOW_PRESETS)}")
    if flow_margin < 0:
        raise InputError(f"flow_margin={flow_margin}: must be >= 0 px")
    if max_distance is not None and max_distance < 1:
        raise InputError(f"max_distance={max_distance}: must be >= 1 frame (or None for no limit)")
    return hole.astype(bool, copy=False)
