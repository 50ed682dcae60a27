"""Procedurally generated video with known ground truth.

Every clip is rendered from a seed by our own code (no external assets), so it may be shipped and trained on
freely (Apache-2.0, like the rest of the package), and because we know exactly what is in it, it doubles as
ground truth for inpainting / object-removal benchmarks (`procedural_scene` also returns the background without
the objects and the per-object masks).

What a clip shows:

* **Background**: a texture larger than the frame, mixed from a smooth colour gradient (linear or radial),
  multi-octave value noise ("clouds", optionally domain-warped into marble-like swirls) coloured through a random
  palette ramp, an optional stripe or checker pattern at a random orientation and scale (anti-aliased, sometimes
  only in patches), and a low-frequency lighting variation. Palettes are drawn in HSV from analogous,
  complementary, triadic or earthy schemes.
* **Camera**: the frame is a window onto that texture. It pans smoothly (constant drift plus a slow sinusoidal
  wobble), optionally zooms slowly in/out and rolls a little, rendered by `cv2.warpAffine` on float images, so
  motion is sub-pixel accurate. Some clips have a static camera.
* **Objects**: 1-6 foreground objects (ellipses, polygons, rounded rectangles, smooth blobs), each flat coloured,
  gradient filled, noise textured, striped or checkered, with dome-like shading from a scene-wide light direction,
  sometimes a dark outline and a soft drop shadow. They move along smooth curved paths (some stand still), rotate
  and change scale slowly, follow the camera with their own parallax factor, and occlude each other in depth order
  (higher parallax = nearer = drawn later). Objects are pre-rendered as premultiplied RGBA sprites and warped into
  each frame with bilinear interpolation, which gives anti-aliased, sub-pixel-accurate edges.
* **Illumination**: optionally a gentle global brightness/tint oscillation over time.
* **Grain**: optional per-frame Gaussian sensor noise (off by default).

Everything is drawn from ``np.random.default_rng(seed)``: the same seed and options give the same clip, bit for
bit, on the same platform. A 66-frame 432x240 clip takes a few hundred milliseconds, a 16-frame 64x64 clip a few
milliseconds.

Options (keyword arguments of `procedural_clip` / `procedural_scene`, all optional):

* ``num_objects``: an int, or a ``(lo, hi)`` range drawn uniformly (inclusive); default ``(1, 6)``. 0 is allowed.
* ``pan_speed``: maximum camera drift per frame as a fraction of ``min(H, W)``; default 0.012 (about 3 px/frame at
  240p). 0 gives a static camera.
* ``zoom``: ``True`` / ``False`` to force a slow zoom on/off; default ``None`` = random (about 40 % of clips).
* ``roll``: ``True`` / ``False`` to force a slow camera roll; default ``None`` = random (about 20 % of clips).
* ``static_prob``: probability of a static camera (no pan, zoom or roll); default 0.15.
* ``object_speed``: maximum object speed per frame as a fraction of ``min(H, W)``; default 0.015.
* ``object_size``: range of an object's radius as a fraction of ``min(H, W)``; default ``(0.06, 0.25)``.
* ``illumination``: ``True`` / ``False`` to force the global illumination change; default ``None`` = random (50 %).
* ``shadows``: probability that an object casts a drop shadow; default 0.5.
* ``grain``: standard deviation of per-pixel Gaussian noise in [0, 1] intensity units; default 0.0.
* ``roll_speed``: standard deviation of the camera roll speed in radians per frame; default 0.002.

`videovq.data.corpus` renders the same cameras and objects over photographs: ``_render`` takes an optional
``texture(rng, height, width)`` for the background and ``object_fill(rng, height, width)`` for object surfaces
(both float32 RGB in [0, 1]); without them the random draws, and so the clips, are unchanged.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from videovq.errors import InputError

__all__ = ["ProceduralOptions", "ProceduralScene", "procedural_clip", "procedural_scene"]

SHAPES = ("ellipse", "polygon", "rounded_rect", "blob")
_FILLS = ("flat", "gradient", "noise", "stripes", "checker")


@dataclass(frozen=True)
class ProceduralOptions:
    """Knobs of the generator; see the module docstring for what each does."""

    num_objects: int | tuple[int, int] = (1, 6)
    pan_speed: float = 0.012
    zoom: bool | None = None
    roll: bool | None = None
    static_prob: float = 0.15
    object_speed: float = 0.015
    object_size: tuple[float, float] = (0.06, 0.25)
    illumination: bool | None = None
    shadows: float = 0.5
    grain: float = 0.0
    roll_speed: float = 0.002

    def __post_init__(self):
        n = self.num_objects
        lo, hi = (n, n) if isinstance(n, (int, np.integer)) else tuple(n)
        if not 0 <= lo <= hi:
            raise InputError(f"num_objects={n}: use an int >= 0 or a range (lo, hi) with 0 <= lo <= hi")
        if self.pan_speed < 0 or self.object_speed < 0:
            raise InputError(f"pan_speed={self.pan_speed}, object_speed={self.object_speed}: speeds must be >= 0")
        if not 0 < self.object_size[0] <= self.object_size[1]:
            raise InputError(f"object_size={self.object_size}: use a range (lo, hi) with 0 < lo <= hi")
        for name in ("static_prob", "shadows"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"{name}={getattr(self, name)}: must be a probability in [0, 1]")
        if self.grain < 0:
            raise InputError(f"grain={self.grain}: the noise level must be >= 0")
        if self.roll_speed < 0:
            raise InputError(f"roll_speed={self.roll_speed}: the roll speed spread must be >= 0")


@dataclass
class ProceduralScene:
    """A rendered clip with its ground truth.

    Attributes:
        frames: uint8 ``(T, H, W, 3)``, the clip.
        background: uint8 ``(T, H, W, 3)``, the same clip without the objects and their shadows.
        object_masks: bool ``(T, N, H, W)``: pixels where object n (or its shadow) changes the frame, in depth order
            (index 0 is the farthest). Outside the union of the masks ``frames == background`` exactly.
    """

    frames: np.ndarray
    background: np.ndarray
    object_masks: np.ndarray


def procedural_clip(
    num_frames: int, height: int, width: int, seed: int | Sequence[int] | np.random.Generator = 0, **options
) -> np.ndarray:
    """Render a procedural video clip.

    Args:
        num_frames: Number of frames T (>= 1).
        height: Frame height H (>= 8).
        width: Frame width W (>= 8).
        seed: Seed for ``np.random.default_rng`` (an int, a sequence of ints, or a Generator, which is advanced);
            the same seed and options give the same clip.
        **options: See `ProceduralOptions` / the module docstring.

    Returns:
        uint8 ``(T, H, W, 3)``.
    """
    return _render(num_frames, height, width, seed, _options(options), with_layers=False).frames


def procedural_scene(
    num_frames: int, height: int, width: int, seed: int | Sequence[int] | np.random.Generator = 0, **options
) -> ProceduralScene:
    """Like `procedural_clip` (same seed, same frames) but also returns the background and per-object masks."""
    return _render(num_frames, height, width, seed, _options(options), with_layers=True)


# -- rendering ------------------------------------------------------------------------------------------------------
def _options(options: dict) -> ProceduralOptions:
    valid = [f.name for f in dataclasses.fields(ProceduralOptions)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InputError(f"unknown procedural video option(s) {unknown}; valid options: {', '.join(valid)}")
    return ProceduralOptions(**options)


def _render(
    num_frames: int,
    height: int,
    width: int,
    seed,
    opts: ProceduralOptions,
    with_layers: bool,
    texture: Callable[[np.random.Generator, int, int], np.ndarray] | None = None,
    object_fill: Callable[[np.random.Generator, int, int], np.ndarray] | None = None,
) -> ProceduralScene:
    if num_frames < 1 or height < 8 or width < 8:
        raise InputError(f"procedural clip size T={num_frames}, H={height}, W={width}: need T >= 1, H >= 8, W >= 8")
    rng = np.random.default_rng(seed)
    side = float(min(height, width))
    T = num_frames

    camera = _Camera(rng, T, height, width, opts)
    tex_h, tex_w = camera.texture_size
    texture = (texture or (lambda g, h, w: _background_texture(g, h, w, side)))(rng, tex_h, tex_w)

    light = rng.uniform(0, 2 * np.pi)  # scene-wide light direction (screen coords), for shading and shadows
    n_lo, n_hi = (opts.num_objects,) * 2 if isinstance(opts.num_objects, (int, np.integer)) else opts.num_objects
    num_objects = int(rng.integers(n_lo, n_hi + 1))
    objects = [_Object(rng, T, height, width, side, light, opts, camera, object_fill) for _ in range(num_objects)]
    objects.sort(key=lambda o: o.parallax)  # nearer (more parallax) objects are drawn on top

    gain = _illumination(rng, T, opts)
    grain_seed = int(rng.integers(2**63))

    frames = np.empty((T, height, width, 3), np.uint8)
    background = np.empty_like(frames) if with_layers else None
    masks = np.zeros((T, num_objects, height, width), bool) if with_layers else None
    grain_rng = np.random.default_rng(grain_seed)
    for t in range(T):
        frame = cv2.warpAffine(
            texture,
            camera.matrices[t],
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT101,
        )
        bg = frame.copy() if with_layers else None
        for i, obj in enumerate(objects):
            covered = obj.draw(frame, t, with_layers)
            if covered is not None:
                (y0, y1, x0, x1), cov = covered
                masks[t, i, y0:y1, x0:x1] |= cov
        noise = grain_rng.normal(0.0, opts.grain, frame.shape).astype(np.float32) if opts.grain > 0 else None
        frames[t] = _finish(frame, gain[t], noise)
        if with_layers:
            background[t] = _finish(bg, gain[t], noise)
    return ProceduralScene(frames, background, masks)


def _finish(frame: np.ndarray, gain: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
    frame = frame * gain
    if noise is not None:
        frame += noise
    return np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _illumination(rng: np.random.Generator, T: int, opts: ProceduralOptions) -> np.ndarray:
    """Per-frame RGB gain (T, 3): 1 everywhere, or a slow brightness oscillation with a slight tint."""
    use = opts.illumination if opts.illumination is not None else bool(rng.random() < 0.5)
    if not use:
        return np.ones((T, 3), np.float32)
    amp = rng.uniform(0.04, 0.12)
    omega = rng.uniform(0.01, 0.06)  # rad/frame: a period of 100-600 frames
    phase = rng.uniform(0, 2 * np.pi)
    tint = 1.0 + rng.uniform(-0.4, 0.4, 3)
    t = np.arange(T)[:, None]
    wave = np.sin(omega * t + phase) - math.sin(phase)  # starts at gain 1
    return (1.0 + amp * wave * tint).astype(np.float32)


class _Camera:
    """A smooth camera path over the background texture: centre, zoom and roll per frame."""

    def __init__(self, rng: np.random.Generator, T: int, height: int, width: int, opts: ProceduralOptions):
        side = min(height, width)
        t = np.arange(T, dtype=np.float64)
        static = rng.random() < opts.static_prob
        speed = 0.0 if static else opts.pan_speed * side * rng.uniform(0.15, 1.0)
        heading = rng.uniform(0, 2 * np.pi)
        # Drift plus a slow wobble whose speed stays below ~30 % of the drift's (or of the speed cap if no drift).
        w_omega = rng.uniform(0.02, 0.12, 2)
        w_amp = 0.0 if static else rng.uniform(0.0, 0.3 * opts.pan_speed * side, 2) / w_omega
        w_phase = rng.uniform(0, 2 * np.pi, 2)
        wobble = w_amp * (np.sin(w_omega * t[:, None] + w_phase) - np.sin(w_phase))
        self.center = speed * t[:, None] * np.array([math.cos(heading), math.sin(heading)]) + wobble  # (T, 2)

        zoom = (opts.zoom if opts.zoom is not None else bool(rng.random() < 0.4)) and not static
        z_amp, z_omega, z_phase = rng.uniform(0.08, 0.25), rng.uniform(0.004, 0.03), rng.uniform(0, 2 * np.pi)
        z_omega = min(z_omega, 0.006 / z_amp)  # at most ~0.6 % zoom change per frame
        self.zoom = np.exp(z_amp * (np.sin(z_omega * t + z_phase) - math.sin(z_phase))) if zoom else np.ones(T)

        roll = (opts.roll if opts.roll is not None else bool(rng.random() < 0.2)) and not static
        r_speed = rng.normal(0, opts.roll_speed)
        self.roll = r_speed * t if roll else np.zeros(T)

        # Texture-space position of each frame's corners -> texture size and offset.
        self.frame_center = np.array([(width - 1) / 2, (height - 1) / 2])
        scale = 1.0 / self.zoom
        cos, sin = np.cos(self.roll) * scale, np.sin(self.roll) * scale
        self.linear = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)  # (T, 2, 2)
        half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array([width / 2, height / 2])
        corners = np.einsum("tij,kj->tki", self.linear, half) + self.center[:, None]  # (T, 4, 2)
        lo, hi = corners.reshape(-1, 2).min(axis=0), corners.reshape(-1, 2).max(axis=0)
        margin = 4.0
        offset = lo - margin
        size = np.ceil(hi - lo + 2 * margin).astype(int)
        # Very long clips with fast pans would need huge textures: cap them and let the border reflect beyond.
        size = np.minimum(size, 4096)
        self.texture_size = (int(size[1]), int(size[0]))
        # matrices[t]: 2x3 affine map from frame pixel coordinates to texture pixel coordinates (WARP_INVERSE_MAP).
        shift = self.center - offset - self.linear @ self.frame_center
        self.matrices = np.concatenate([self.linear, shift[:, :, None]], axis=2)
        self._inverse = np.linalg.inv(self.linear)

    def to_screen(self, point: np.ndarray) -> np.ndarray:
        """(T, 2): where the texture point `point` appears in each frame (pixel coordinates)."""
        return np.einsum("tij,tj->ti", self._inverse, point - self.matrices[:, :, 2])


# -- textures -------------------------------------------------------------------------------------------------------
def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) float32 RGB in [0, 1], ordered dark to light, from a random colour scheme."""
    scheme = rng.choice(["analogous", "complementary", "triadic", "earthy", "random"], p=[0.3, 0.2, 0.15, 0.2, 0.15])
    h0 = rng.random()
    if scheme == "analogous":
        hues = h0 + rng.uniform(-0.08, 0.08, n)
    elif scheme == "complementary":
        hues = h0 + 0.5 * rng.integers(0, 2, n) + rng.uniform(-0.04, 0.04, n)
    elif scheme == "triadic":
        hues = h0 + rng.integers(0, 3, n) / 3 + rng.uniform(-0.03, 0.03, n)
    elif scheme == "earthy":  # browns, ochres, olive and dull greens
        hues = rng.uniform(0.03, 0.3, n)
    else:
        hues = rng.random(n)
    sat_hi = 0.5 if scheme == "earthy" else 0.9
    sats = rng.uniform(0.1, sat_hi, n)
    vals = np.sort(rng.uniform(0.12, 0.97, n))
    return np.array([colorsys.hsv_to_rgb(h % 1.0, s, v) for h, s, v in zip(hues, sats, vals)], np.float32)


def _ramp(values: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (H, W) through a colour ramp (n, 3) -> (H, W, 3) float32, via a 1024-entry LUT."""
    n = len(colors)
    pos = np.linspace(0, 1, n)
    grid = np.linspace(0, 1, 1024)
    lut = np.stack([np.interp(grid, pos, colors[:, c]) for c in range(3)], axis=1).astype(np.float32)
    idx = np.clip(values * 1023 + 0.5, 0, 1023).astype(np.int32)
    return lut[idx]


def _value_noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int, persistence: float) -> np.ndarray:
    """Fractal value noise (H, W) float32 normalised to [0, 1]; `cell` is the coarsest lattice spacing in px."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        c = max(cell, 1.5)
        gh, gw = int(math.ceil(h / c)) + 3, int(math.ceil(w / c)) + 3
        grid = rng.random((gh, gw), dtype=np.float32)
        up = cv2.resize(grid, (int(round(gw * c)), int(round(gh * c))), interpolation=cv2.INTER_CUBIC)
        oy, ox = int(rng.integers(0, max(1, up.shape[0] - h + 1))), int(rng.integers(0, max(1, up.shape[1] - w + 1)))
        out += amp * up[oy : oy + h, ox : ox + w]
        total += amp
        amp *= persistence
        cell /= 2.0
        if cell < 1.0:
            break
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return x, y


def _pattern(rng: np.random.Generator, h: int, w: int, side: float, kind: str) -> np.ndarray:
    """Anti-aliased stripes or checker (H, W) in [0, 1] at a random orientation and period."""
    x, y = _coords(h, w)
    theta = rng.uniform(0, np.pi)
    period = max(4.0, side * rng.uniform(0.04, 0.25))
    # A clipped sine is a square wave whose edges ramp over ~2 px: no aliasing even after sub-pixel warps.
    sharp = max(1.0, period / (2.0 * np.pi))
    u = x * math.cos(theta) + y * math.sin(theta)
    s = np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi))
    if kind == "checker":
        v = -x * math.sin(theta) + y * math.cos(theta)
        s = s * np.sin(2 * np.pi * v / period + rng.uniform(0, 2 * np.pi))
        sharp *= 2.0
    elif rng.random() < 0.3:  # uneven stripes: a duty cycle other than 50 %
        s = s + rng.uniform(-0.6, 0.6)
    return np.clip(s * sharp, -1, 1) * 0.5 + 0.5


def _noise_cell(rng: np.random.Generator, side: float) -> float:
    return side * rng.uniform(0.12, 0.8)


def _background_texture(rng: np.random.Generator, h: int, w: int, side: float) -> np.ndarray:
    """(H, W, 3) float32 in about [0, 1]."""
    pal = _palette(rng, int(rng.integers(3, 6)))
    # 1. Smooth gradient between two palette colours, linear or radial.
    x, y = _coords(h, w)
    i, j = rng.choice(len(pal), 2, replace=False)
    if rng.random() < 0.7:
        theta = rng.uniform(0, 2 * np.pi)
        g = x * math.cos(theta) + y * math.sin(theta)
    else:
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        g = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    g = (g - g.min()) / max(float(g.max() - g.min()), 1e-6)
    tex = pal[i] + g[..., None] * (pal[j] - pal[i])
    # 2. Fractal noise "clouds" through the palette ramp.
    noise = _value_noise(rng, h, w, _noise_cell(rng, side), int(rng.integers(4, 8)), rng.uniform(0.35, 0.65))
    if rng.random() < 0.3:  # domain warp: marble-like swirls
        amp = side * rng.uniform(0.03, 0.12)
        dx = _value_noise(rng, h, w, side * 0.4, 2, 0.5) - 0.5
        dy = _value_noise(rng, h, w, side * 0.4, 2, 0.5) - 0.5
        noise = cv2.remap(noise, x + 2 * amp * dx, y + 2 * amp * dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    if rng.random() < 0.25:  # sharpen into contour-like bands
        noise = 0.5 + 0.5 * np.tanh((noise - rng.uniform(0.35, 0.65)) * rng.uniform(4, 12))
    clouds = _ramp(noise, _palette(rng, int(rng.integers(2, 5))) if rng.random() < 0.5 else pal)
    tex = tex + rng.uniform(0.35, 1.0) * (clouds - tex)
    # 3. Sometimes a stripe/checker pattern, everywhere or in noise-shaped patches.
    if rng.random() < 0.4:
        pat = _pattern(rng, h, w, side, "checker" if rng.random() < 0.4 else "stripes")
        a, b = pal[rng.choice(len(pal), 2, replace=False)]
        layer = a + pat[..., None] * (b - a)
        if rng.random() < 0.5:
            patch = _value_noise(rng, h, w, side * rng.uniform(0.3, 0.8), 2, 0.5)
            alpha = np.clip((patch - 0.5) * 8 + 0.5, 0, 1) * rng.uniform(0.5, 1.0)
        else:
            alpha = np.full((h, w), rng.uniform(0.25, 0.8), np.float32)
        tex = tex + alpha[..., None] * (layer - tex)
    # 4. Low-frequency lighting variation.
    light = _value_noise(rng, h, w, side * rng.uniform(0.5, 1.5), 2, 0.4)
    tex = tex * (1.0 + rng.uniform(0.1, 0.5) * (light[..., None] - 0.5))
    return np.ascontiguousarray(tex, dtype=np.float32)


# -- objects --------------------------------------------------------------------------------------------------------
def _shape_outline(rng: np.random.Generator, kind: str, r: float) -> np.ndarray:
    """(N, 2) outline points of a shape centred on 0 with radius ~r."""
    if kind == "ellipse":
        theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        q = rng.uniform(0.45, 1.0)
        return np.stack([r * np.cos(theta), r * q * np.sin(theta)], axis=1)
    if kind == "polygon":
        n = int(rng.integers(3, 9))
        theta = np.sort(rng.uniform(0, 2 * np.pi, n)) if rng.random() < 0.5 else np.arange(n) * 2 * np.pi / n
        theta = theta + rng.uniform(-0.2, 0.2, n) * (2 * np.pi / n)
        theta = np.sort(theta)
        if n >= 5 and rng.random() < 0.25:  # a star
            rad = r * np.where(np.arange(n) % 2 == 0, 1.0, rng.uniform(0.4, 0.7))
        else:
            rad = r * rng.uniform(0.7, 1.0, n)
        return np.stack([rad * np.cos(theta), rad * np.sin(theta)], axis=1)
    if kind == "rounded_rect":
        hw, hh = r, r * rng.uniform(0.35, 1.0)
        rc = min(hw, hh) * rng.uniform(0.1, 0.6)
        pts = []
        ix, iy = hw - rc, hh - rc  # corner arc centres at (+-ix, +-iy), arcs a quarter turn each
        for cx, cy, a0 in ((ix, iy, 0.0), (-ix, iy, 0.5), (-ix, -iy, 1.0), (ix, -iy, 1.5)):
            a = (a0 + np.linspace(0, 0.5, 9)) * np.pi
            pts.append(np.stack([cx + rc * np.cos(a), cy + rc * np.sin(a)], axis=1))
        return np.concatenate(pts)
    # blob: radius as a sum of low harmonics -> smooth lumpy outline
    theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    k = np.arange(2, 6)
    amp = rng.uniform(0, 0.25, k.size) / k
    phase = rng.uniform(0, 2 * np.pi, k.size)
    rad = r * (1 + (amp[:, None] * np.cos(k[:, None] * theta + phase[:, None])).sum(axis=0)) / (1 + amp.sum())
    return np.stack([rad * np.cos(theta), rad * np.sin(theta)], axis=1)


def _object_fill(rng: np.random.Generator, h: int, w: int, r: float) -> np.ndarray:
    """(h, w, 3) float32 surface colour of an object."""
    pal = _palette(rng, 3)
    fill = rng.choice(_FILLS, p=[0.3, 0.2, 0.25, 0.15, 0.1])
    base = pal[int(rng.integers(3))]
    if fill == "flat":
        return np.broadcast_to(base, (h, w, 3)).astype(np.float32)
    if fill == "gradient":
        x, y = _coords(h, w)
        theta = rng.uniform(0, 2 * np.pi)
        g = (x - w / 2) * math.cos(theta) + (y - h / 2) * math.sin(theta)
        g = np.clip(g / (2 * r) + 0.5, 0, 1)
        return pal[0] + g[..., None] * (pal[2] - pal[0])
    if fill == "noise":
        return _ramp(_value_noise(rng, h, w, r * rng.uniform(0.3, 1.2), int(rng.integers(2, 5)), 0.5), pal)
    pat = _pattern(rng, h, w, 2 * r * rng.uniform(1.0, 3.0), "checker" if fill == "checker" else "stripes")
    a, b = pal[rng.choice(3, 2, replace=False)]
    return a + pat[..., None] * (b - a)


class _Object:
    """A textured, shaded sprite with a smooth trajectory, rotation, scale change and parallax."""

    def __init__(
        self,
        rng: np.random.Generator,
        T: int,
        height: int,
        width: int,
        side: float,
        light: float,
        opts: ProceduralOptions,
        camera: _Camera,
        fill: Callable[[np.random.Generator, int, int], np.ndarray] | None = None,
    ):
        r = side * rng.uniform(*opts.object_size)
        r = max(r, 2.0)
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        outline = _shape_outline(rng, shape, r)
        # Sprite: big enough for the shape at scale 1; warped into frames at sub-pixel positions.
        half = int(math.ceil(r)) + 3
        size = 2 * half + 1
        self.anchor = np.array([half, half], np.float64)
        canvas = np.zeros((size, size), np.uint8)
        pts = np.round((outline + self.anchor) * 16).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 255, cv2.LINE_AA, 4)
        alpha = canvas.astype(np.float32) / 255.0

        rot0 = rng.uniform(0, 2 * np.pi)
        color = fill(rng, size, size) if fill is not None else _object_fill(rng, size, size, r)
        # Dome shading: height from the distance to the outline, normals from its gradient, Lambert + ambient.
        if rng.random() < 0.8:
            dist = cv2.distanceTransform((canvas > 127).astype(np.uint8), cv2.DIST_L2, 3)
            d = np.clip(dist / max(float(dist.max()), 1.0), 0, 1)
            bulge = rng.uniform(0.5, 1.5)
            hgt = np.sqrt(1.0 - (1.0 - d) ** 2) * r * 0.5 * bulge
            gx = cv2.Sobel(hgt, cv2.CV_32F, 1, 0, ksize=3) / 8.0
            gy = cv2.Sobel(hgt, cv2.CV_32F, 0, 1, ksize=3) / 8.0
            la = light - rot0  # light direction in sprite coordinates at t=0 (shading rotates with the object)
            lx, ly, lz = -math.cos(la) * 0.6, -math.sin(la) * 0.6, 0.8
            shade = (-gx * lx - gy * ly + lz) / np.sqrt(gx * gx + gy * gy + 1.0)
            shade = np.clip(shade, 0, 1)
            ambient = rng.uniform(0.35, 0.6)
            color = color * (ambient + (1 - ambient) * shade[..., None] / lz)
            if rng.random() < 0.4:  # specular highlight
                color = color + rng.uniform(0.1, 0.4) * (shade[..., None] ** 12)
        if rng.random() < 0.3:  # dark outline
            width_px = max(1, int(round(r * rng.uniform(0.03, 0.08))))
            inner = cv2.erode(alpha, np.ones((2 * width_px + 1,) * 2, np.uint8))
            color = color * (1.0 - 0.6 * (alpha - inner)[..., None])
        color = np.clip(color, 0, 1.2)
        self.sprite = np.ascontiguousarray(np.dstack([color * alpha[..., None], alpha]), dtype=np.float32)

        self.shadow = None
        if rng.random() < opts.shadows:
            blur = max(0.8, r * rng.uniform(0.05, 0.15))
            pad = int(math.ceil(3 * blur)) + 1
            padded = cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            self.shadow = cv2.GaussianBlur(padded, (0, 0), blur) * rng.uniform(0.25, 0.5)
            self.shadow_anchor = self.anchor + pad
            self.shadow_offset = r * rng.uniform(0.08, 0.25) * np.array([math.cos(light), math.sin(light)])

        # Trajectory: a curved path (slowly turning heading, varying speed) through a point inside the frame at
        # mid-clip, plus the camera-induced motion scaled by the object's parallax (1 = moves with the background,
        # > 1 = nearer than it); rotation and scale drift slowly. Some objects stand still in the scene.
        t = np.arange(T, dtype=np.float64)
        mid_t = T // 2
        speed = 0.0 if rng.random() < 0.2 else opts.object_speed * side * rng.uniform(0.1, 1.0)
        heading = rng.uniform(0, 2 * np.pi) + rng.normal(0, 0.02) * t
        speed_t = speed * (1 + 0.3 * np.sin(rng.uniform(0.02, 0.1) * t + rng.uniform(0, 2 * np.pi)))
        steps = speed_t[:, None] * np.stack([np.cos(heading), np.sin(heading)], axis=1)
        path = np.concatenate([np.zeros((1, 2)), np.cumsum(steps[:-1], axis=0)])
        mid = np.array([rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height])
        rotation = rot0 + rng.normal(0, 0.012) * t
        s_amp = rng.uniform(0, 0.15)
        s_omega = min(rng.uniform(0.01, 0.05), 0.005 / max(s_amp, 1e-6))
        s_phase = rng.uniform(0, 2 * np.pi)
        scale = np.exp(s_amp * (np.sin(s_omega * t + s_phase) - math.sin(s_phase)))
        self.parallax = rng.uniform(0.5, 1.4)

        m_mid = camera.matrices[mid_t]
        follow = camera.to_screen(m_mid[:, :2] @ mid + m_mid[:, 2])  # a static scene point's screen track (T, 2)
        self.pos = path - path[mid_t] + mid + self.parallax * (follow - follow[mid_t])
        scale = scale * (camera.zoom / camera.zoom[mid_t]) ** self.parallax
        rotation = rotation - self.parallax * (camera.roll - camera.roll[mid_t])
        cos, sin = np.cos(rotation) * scale, np.sin(rotation) * scale
        self.linear = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)  # (T, 2, 2)
        self.scale = scale

    def draw(self, frame: np.ndarray, t: int, want_mask: bool):
        """Composite this object (and its shadow) into `frame` in place; returns its coverage when asked."""
        pos, lin = self.pos[t], self.linear[t]
        height, width = frame.shape[:2]
        box = None
        cover = None
        if self.shadow is not None:
            spos = pos + self.shadow_offset * self.scale[t]
            roi = _warp_into(self.shadow, self.shadow_anchor, lin, spos, width, height)
            if roi is not None:
                (y0, y1, x0, x1), a = roi
                frame[y0:y1, x0:x1] *= (1.0 - a)[..., None]
                if want_mask:
                    box, cover = _union(box, cover, (y0, y1, x0, x1), a > 0)
        roi = _warp_into(self.sprite, self.anchor, lin, pos, width, height)
        if roi is not None:
            (y0, y1, x0, x1), rgba = roi
            region = frame[y0:y1, x0:x1]
            region *= 1.0 - rgba[..., 3:4]
            region += rgba[..., :3]
            if want_mask:
                box, cover = _union(box, cover, (y0, y1, x0, x1), rgba[..., 3] > 0)
        if not want_mask or box is None:
            return None
        return box, cover


def _warp_into(sprite: np.ndarray, anchor: np.ndarray, lin: np.ndarray, pos: np.ndarray, width: int, height: int):
    """Warp `sprite` (anchor at `pos`, linear part `lin`) into the frame; returns ((y0, y1, x0, x1), patch) or None."""
    sh, sw = sprite.shape[:2]
    corners = np.array([[0, 0], [sw - 1, 0], [sw - 1, sh - 1], [0, sh - 1]], np.float64) - anchor
    screen = corners @ lin.T + pos
    x0, y0 = np.floor(screen.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(screen.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    # forward map sprite -> ROI: x_roi = lin @ (u - anchor) + pos - (x0, y0)
    m = np.concatenate([lin, (pos - lin @ anchor - np.array([x0, y0]))[:, None]], axis=1)
    patch = cv2.warpAffine(sprite, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return (y0, y1, x0, x1), patch


def _union(box, cover, new_box, new_cover):
    """Accumulate coverage masks with different ROIs (only the object's shadow and body: small)."""
    if box is None:
        return new_box, new_cover
    y0, y1 = min(box[0], new_box[0]), max(box[1], new_box[1])
    x0, x1 = min(box[2], new_box[2]), max(box[3], new_box[3])
    out = np.zeros((y1 - y0, x1 - x0), bool)
    for (a0, a1, b0, b1), c in ((box, cover), (new_box, new_cover)):
        out[a0 - y0 : a1 - y0, b0 - x0 : b1 - x0] |= c
    return (y0, y1, x0, x1), out
