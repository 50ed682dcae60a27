"""The `videovq ui` web app: a Starlette app serving one HTML page and a small JSON API, all from this machine.

Safety (docs/ui.md): every name the page sends goes through `Workspace.path` (nothing outside the working folder is
read or written); uploads are capped at `max_upload_bytes`; requests must name this server as their Host (a web
page elsewhere cannot reach it by DNS rebinding), and every POST carries the `X-Videovq` header, which a page from
another origin cannot send without a CORS preflight this app never grants.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from videovq.errors import InputError
from videovq.io.video import VideoInfo
from videovq.ui.frames import OpenVideos
from videovq.ui.jobs import JobRunner, unique_output
from videovq.ui.maskspec import build_mask, mask_frame, parse_spec
from videovq.ui.workspace import MASKS, RESULTS, PathEscape, Workspace

STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_UPLOAD_MB = 1024
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
# Choices the page offers; "membrane" is the fast preset with the generator off (propagation + smooth fill, no model).
PAGE_PRESETS = {"membrane": ("fast", ["generator=false"]), "fast": ("fast", []), "default": ("default", []),
                "best": ("best", [])}  # fmt: skip


def create_app(workdir: str | Path, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB << 20, host: str = "127.0.0.1",
               device: str = "cpu", tokenizer: str | Path | None = None) -> Starlette:  # fmt: skip
    """The app for one working folder.

    Args:
        workdir: the only folder the app reads and writes (created if missing).
        max_upload_bytes: larger uploads are refused (413).
        host: the address the server binds; requests must name it (or localhost) as their Host.
        device: torch device of inpainting jobs.
        tokenizer: general tokenizer folder for jobs (default: the shipped one).
    """
    api = _Api(Workspace(workdir), max_upload_bytes, device, tokenizer)
    routes = [
        Route("/", api.index),
        Route("/api/videos", api.list_videos),
        Route("/api/upload", api.upload, methods=["POST"]),
        Route("/api/info", api.info),
        Route("/api/frame", api.frame),
        Route("/api/preview", _threaded(api.preview), methods=["POST"]),
        Route("/api/track", _threaded(api.track), methods=["POST"]),
        Route("/api/jobs", _threaded(api.start_job), methods=["POST"]),
        Route("/api/jobs/{job_id:int}", api.job_status),
        Route("/files", api.download),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    allowed = ["*"] if host in ("0.0.0.0", "::", "") else sorted({host, *LOOPBACK_HOSTS})
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed), Middleware(_RequireHeader)]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: _error})


class _Api:
    """The page's endpoints over one working folder. Plain (sync) handlers run in Starlette's thread pool."""

    def __init__(self, space: Workspace, max_upload_bytes: int, device: str, tokenizer):
        self.space, self.max_upload_bytes, self.device, self.tokenizer = space, max_upload_bytes, device, tokenizer
        self.videos, self.runner = OpenVideos(), JobRunner()

    def resolve(self, name: str | None) -> Path:
        try:
            return self.space.path(name or "")
        except PathEscape as e:
            raise HTTPException(403, str(e)) from None

    def video(self, name: str | None) -> tuple[Path, VideoInfo]:
        """A video of the working folder and its description."""
        path = self.resolve(name)
        if not path.is_file():
            raise HTTPException(404, f"{name}: no such video in the working folder")
        try:
            return path, self.videos.info(path)
        except InputError as e:
            raise HTTPException(400, str(e)) from None

    def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    def list_videos(self, request: Request) -> Response:
        results = self.space.root / RESULTS
        done = sorted(self.space.name(p) for p in results.glob("*.mp4")) if results.is_dir() else []
        return JSONResponse({"videos": self.space.videos(), "results": done, "presets": list(PAGE_PRESETS)})

    async def upload(self, request: Request) -> Response:
        try:
            name = self.space.upload_name(request.query_params.get("name", ""))
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        limit = self.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise HTTPException(413, f"upload of {int(declared)} bytes is over the limit of {limit} (--max-upload-mb)")
        target = unique_output(self.resolve(name).parent, Path(name).stem, Path(name).suffix)  # never replace a video
        partial = target.with_name(f".{target.name}.upload")
        size = 0
        try:
            with open(partial, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:  # a missing or false Content-Length is caught while streaming
                        raise HTTPException(413, f"upload is over the limit of {limit} bytes (--max-upload-mb)")
                    f.write(chunk)
            await run_in_threadpool(_check_video, partial, name)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return JSONResponse({"name": self.space.name(target), "bytes": size})

    def info(self, request: Request) -> Response:
        _, meta = self.video(request.query_params.get("video"))
        return JSONResponse({"frames": meta.num_frames, "width": meta.width, "height": meta.height,
                             "fps": float(meta.fps)})  # fmt: skip

    def frame(self, request: Request) -> Response:
        path, meta = self.video(request.query_params.get("video"))
        return _jpeg(self.videos.frame(path, _frame_index(request.query_params.get("t"), meta.num_frames)))

    def preview(self, body: dict) -> Response:
        from videovq.io.masks import dilate_mask
        from videovq.io.preview import overlay_mask

        path, meta = self.video(body.get("video"))
        t = _frame_index(body.get("frame"), meta.num_frames)
        spec = _spec(body.get("spec", {}), meta.num_frames)
        image = self.videos.frame(path, t)
        hole = dilate_mask(mask_frame(spec, t, image)[None], spec.dilate)
        return _jpeg(overlay_mask(image[None], hole)[0])

    def track(self, body: dict) -> Response:
        from videovq.io.mask_box import Rect
        from videovq.io.mask_track import track_box

        path, meta = self.video(body.get("video"))
        t = _frame_index(body.get("frame"), meta.num_frames)
        frames = self.videos.all_frames(path)
        try:
            box = Rect(*(float(v) for v in body["box"]))
            result = track_box(frames, box, t)
        except (KeyError, TypeError, ValueError) as e:  # InputError is a ValueError
            raise HTTPException(400, str(e)) from None
        boxes = [None if b is None else [round(v, 2) for v in b.astuple()] for b in result.boxes]
        lost = [{"frame": lost.frame, "direction": lost.direction, "text": lost.describe()} for lost in result.lost]
        return JSONResponse({"boxes": boxes, "lost": lost})

    def start_job(self, body: dict) -> Response:
        from videovq.config import apply_overrides
        from videovq.inpaint.pipeline import inpaint_video
        from videovq.inpaint.presets import preset
        from videovq.io.masks import write_mask

        video, meta = self.video(body.get("video"))
        name = body.get("preset", "fast")
        if name not in PAGE_PRESETS:
            raise HTTPException(400, f"preset {name!r}: choose one of {', '.join(PAGE_PRESETS)}")
        spec = _spec(body.get("spec", {}), meta.num_frames)
        if spec.empty:
            raise HTTPException(400, "draw a box or a brush stroke first: the mask is empty")
        base, overrides = PAGE_PRESETS[name]
        config = apply_overrides(preset(base), overrides)
        root = self.space.root
        (root / RESULTS).mkdir(exist_ok=True)
        (root / MASKS).mkdir(exist_ok=True)
        output = unique_output(root / RESULTS, f"{video.stem}-{name}", ".mp4")
        mask_path = root / MASKS / f"{output.stem}.mkv"

        def work(log) -> None:
            log("[build the mask]")
            write_mask(mask_path, build_mask(spec, video), meta.fps, overwrite=True)
            inpaint_video(video, mask_path, output, config, device=self.device, tokenizer=self.tokenizer, log=log)

        job_args = {"video": self.space.name(video), "output": self.space.name(output), "preset": name}
        try:
            job = self.runner.start(job_args, work)
        except InputError as e:
            raise HTTPException(409, str(e)) from None
        return JSONResponse(job.as_dict())

    def job_status(self, request: Request) -> Response:
        job = self.runner.get(int(request.path_params["job_id"]))
        if job is None:
            raise HTTPException(404, "no such job")
        return JSONResponse(job.as_dict())

    def download(self, request: Request) -> Response:
        path = self.resolve(request.query_params.get("path"))
        if not path.is_file():
            raise HTTPException(404, f"{request.query_params.get('path')}: no such file in the working folder")
        return FileResponse(path, filename=path.name)


class _RequireHeader:
    """Refuse POSTs without the `X-Videovq` header (cross-origin pages cannot add it without a CORS preflight)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            if not any(k == b"x-videovq" for k, _ in scope["headers"]):
                response = JSONResponse({"error": "missing the X-Videovq header"}, status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _error(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _json(request: Request) -> dict:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise HTTPException(400, "the request body must be JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the request body must be a JSON object")
    return body


def _threaded(handler):
    """An endpoint that reads a JSON body, then runs blocking work (decoding, tracking, GrabCut) in a thread."""

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(handler, await _json(request))

    return endpoint


def _spec(data, num_frames: int):
    try:
        return parse_spec(data, num_frames)
    except (KeyError, TypeError, ValueError) as e:
        raise HTTPException(400, f"mask: {e}") from None


def _frame_index(value, num_frames: int) -> int:
    try:
        t = int(value)
    except (TypeError, ValueError):
        raise HTTPException(400, f"frame {value!r}: give a frame number") from None
    if not 0 <= t < num_frames:
        raise HTTPException(400, f"frame {t}: the video has frames 0..{num_frames - 1}")
    return t


def _jpeg(image: np.ndarray) -> Response:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=90)
    return Response(buf.getvalue(), media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _check_video(path: Path, name: str) -> None:
    from videovq.io.video import probe

    try:
        probe(path)
    except InputError:
        raise HTTPException(400, f"{name}: not a video FFmpeg can read") from None
