"""The `videovq ui` server through Starlette's TestClient: path escapes and oversize uploads are refused, the API
serves frames, tracks, previews and runs a job to a result."""

from __future__ import annotations

import io
import time
import warnings
from fractions import Fraction

import numpy as np
import pytest

from starlette.testclient import TestClient  # the ui extra's packages are in the test extra too

from conftest import clip_with_logo
from videovq.cli import main
from videovq.io.video import read_video, write_video
from videovq.ui.app import create_app
from videovq.ui.maskspec import mask_frame, parse_spec
from videovq.ui.workspace import PathEscape, Workspace

HEADERS = {"X-Videovq": "1"}


@pytest.fixture
def workdir(tmp_path, tiny_video):
    folder = tmp_path / "work"
    folder.mkdir()
    write_video(folder / "clip.mkv", clip_with_logo()[0], Fraction(25))
    (tmp_path / "secret.mkv").write_bytes(tiny_video.read_bytes())  # beside the working folder, not in it
    return folder


@pytest.fixture
def client(workdir, tiny_tokenizer_dir):
    app = create_app(workdir, max_upload_bytes=256 << 10, tokenizer=tiny_tokenizer_dir)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        yield c


@pytest.mark.parametrize(
    "name", ["../secret.mkv", "sub/../../secret.mkv", "/etc/passwd", "..", "link/secret.mkv", "results\\..\\x"]
)
def test_path_escapes_are_refused(client, workdir, name):
    (workdir / "link").symlink_to(workdir.parent, target_is_directory=True)
    for url in (f"/api/info?video={name}", f"/api/frame?video={name}&t=0", f"/files?path={name}"):
        response = client.get(url, params={"video": name, "path": name})
        assert response.status_code == 403, (url, response.status_code)
    response = client.post("/api/track", json={"video": name, "frame": 0, "box": [1, 1, 8, 8]}, headers=HEADERS)
    assert response.status_code == 403


def test_workspace_refuses_a_symlinked_file_that_points_out(workdir):
    (workdir / "out.mkv").symlink_to(workdir.parent / "secret.mkv")
    space = Workspace(workdir)
    with pytest.raises(PathEscape):
        space.path("out.mkv")
    assert "out.mkv" not in space.videos()
    assert space.path("clip.mkv") == workdir.resolve() / "clip.mkv"


def test_oversize_upload_is_refused_and_leaves_nothing(client, workdir):
    big = b"\0" * (257 << 10)
    response = client.post("/api/upload?name=big.mp4", content=big, headers=HEADERS)
    assert response.status_code == 413 and "limit" in response.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(300):
            yield b"\0" * 1024

    response = client.post("/api/upload?name=big.mp4", content=chunks(), headers=HEADERS)
    assert response.status_code == 413
    assert sorted(p.name for p in workdir.iterdir()) == ["clip.mkv"]


def test_upload_of_a_video_then_frames(client, workdir, tiny_video):
    data = tiny_video.read_bytes()
    response = client.post("/api/upload?name=../../x/My Clip!.mkv", content=data, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "My_Clip.mkv" and (workdir / "My_Clip.mkv").read_bytes() == data
    again = client.post("/api/upload?name=My_Clip.mkv", content=data, headers=HEADERS)
    assert again.json()["name"] == "My_Clip-2.mkv"  # an upload never replaces a video already there
    assert client.post("/api/upload?name=notes.txt", content=b"hi", headers=HEADERS).status_code == 400
    assert client.post("/api/upload?name=fake.mp4", content=b"not a video", headers=HEADERS).status_code == 400
    assert "My_Clip.mkv" in client.get("/api/videos").json()["videos"]
    info = client.get("/api/info", params={"video": "My_Clip.mkv"}).json()
    assert (info["frames"], info["width"], info["height"]) == (12, 64, 48)
    response = client.get("/api/frame", params={"video": "My_Clip.mkv", "t": 3})
    assert response.headers["content-type"] == "image/jpeg"
    assert client.get("/api/frame", params={"video": "My_Clip.mkv", "t": 12}).status_code == 400


def test_posts_need_the_header_and_requests_need_a_local_host(workdir):
    app = create_app(workdir)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        assert c.post("/api/track", json={}).status_code == 403  # a cross-origin form cannot add the header
    with TestClient(app, base_url="http://evil.example:8765") as c:
        assert c.get("/api/videos").status_code == 400  # DNS rebinding: a foreign Host name is refused


def test_page_and_its_assets_are_served_locally(client):
    page = client.get("/").text
    assert 'src="/static/app.js"' in page and "http" not in page.replace('http-equiv', '')
    for asset in ("/static/app.js", "/static/app.css"):
        body = client.get(asset).text
        assert "http://" not in body and "https://" not in body  # no CDN, no telemetry


def test_preview_track_and_a_job_to_the_result(client, workdir):
    frames, (x, y, w, h) = clip_with_logo()
    spec = {"boxes": [{"keys": {"0": [x - 1, y - 1, w + 2, h + 2]}, "hold": True}], "dilate": 1}
    response = client.post("/api/preview", json={"video": "clip.mkv", "frame": 2, "spec": spec}, headers=HEADERS)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    bad = {"boxes": [{"keys": {"40": [1, 1, 4, 4]}}]}
    response = client.post("/api/preview", json={"video": "clip.mkv", "frame": 0, "spec": bad}, headers=HEADERS)
    assert response.status_code == 400 and "frames 0..11" in response.json()["error"]

    tracked = client.post("/api/track", json={"video": "clip.mkv", "frame": 3, "box": [x, y, w, h]}, headers=HEADERS)
    assert tracked.status_code == 200 and tracked.json()["boxes"][0] == [x, y, w, h]  # the logo stays put

    empty = client.post("/api/jobs", json={"video": "clip.mkv", "preset": "membrane", "spec": {}}, headers=HEADERS)
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    job = client.post("/api/jobs", json={"video": "clip.mkv", "preset": "membrane", "spec": spec}, headers=HEADERS)
    assert job.status_code == 200, job.text
    deadline = time.time() + 120
    while (status := client.get(f"/api/jobs/{job.json()['id']}").json())["state"] in ("queued", "running"):
        assert time.time() < deadline
        time.sleep(0.1)
    assert status["state"] == "done", status
    assert status["output"] == "results/clip-membrane.mp4" and status["progress"] == 1.0
    result = read_video(workdir / status["output"])
    logo = np.zeros(frames.shape[1:3], bool)
    logo[y : y + h, x : x + w] = True
    assert result[:, logo].mean() < 200  # the white logo is gone
    assert np.abs(result[:, ~logo].astype(int) - frames[:, ~logo]).mean() < 3  # the rest is the input (H.264)
    download = client.get("/files", params={"path": status["output"]})
    assert download.status_code == 200 and download.content == (workdir / status["output"]).read_bytes()
    assert (workdir / "masks" / "clip-membrane.mkv").is_file()


def test_mask_spec_boxes_strokes_and_tracked_boxes():
    frames = np.zeros((4, 20, 30, 3), np.uint8)
    data = {
        "boxes": [{"keys": {"1": [0, 0, 4, 4], "2": [2, 0, 4, 4]}, "hold": False}],  # tracked: frames 1-2 only
        "strokes": [{"frame": 3, "points": [[15, 10]], "radius": 2}, {"frame": 0, "points": [[25, 5], [29, 5]],
                                                                      "radius": 1, "all_frames": True}],
    }  # fmt: skip
    spec = parse_spec(data, num_frames=4)
    masks = [mask_frame(spec, t, frames[t]) for t in range(4)]
    assert not masks[0][:, :10].any() and masks[1][:4, :4].all() and masks[2][:4, 2:6].all()
    assert not masks[3][:, :10].any() and masks[3][10, 15] and masks[3][8, 15] and not masks[2][10, 15]
    assert all(m[5, 25:30].all() for m in masks)  # the all-frames stroke
    with pytest.raises(ValueError, match="frames 0..3"):
        parse_spec({"strokes": [{"frame": 4, "points": [[1, 1]]}]}, num_frames=4)
    with pytest.raises(ValueError, match="dilate"):
        parse_spec({"dilate": 1000}, num_frames=4)


def test_cli_ui_warns_off_localhost_and_checks_the_upload_limit(monkeypatch, tmp_path, capsys):
    import videovq.ui

    calls = []
    monkeypatch.setattr(videovq.ui, "serve", lambda *args: calls.append(args))
    assert main(["ui", "--workdir", str(tmp_path), "--host", "0.0.0.0", "--port", "9000"]) == 0
    assert "videovq: warning: --host 0.0.0.0:" in capsys.readouterr().err  # the CLI prints warnings as one line
    assert calls[0][:4] == (tmp_path, "0.0.0.0", 9000, 1024 << 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning on localhost
        assert main(["ui", "--workdir", str(tmp_path)]) == 0
    assert main(["ui", "--max-upload-mb", "0"]) == 2 and "--max-upload-mb" in capsys.readouterr().err


def test_job_progress_follows_stage_lines_and_the_running_step_bar():
    from tqdm import tqdm

    from videovq.ui.jobs import Job

    job = Job(1, "clip.mkv", "results/clip.mp4", "fast", state="running")
    job.on_log("[2/4 fit the tokenizer to this video]")
    assert job.stage == "fit the tokenizer to this video" and job.as_dict()["progress"] == 0.25
    with tqdm(total=10, desc="fit tokenizer", mininterval=0, miniters=1, file=io.StringIO()) as bar:
        bar.update(5)
        status = job.as_dict()
    assert status["bar"]["desc"] == "fit tokenizer" and status["bar"]["n"] == 5 and status["progress"] == 0.375
    assert job.as_dict()["bar"] is None  # the bar is closed
