"""Running the app: in the foreground for `videovq ui`, or in a thread for tests and scripted screenshots."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from videovq.errors import InputError


def serve(
    workdir: str | Path, host: str, port: int, max_upload_bytes: int, device: str = "cpu", tokenizer=None
) -> None:
    """Serve the page until interrupted (uvicorn)."""
    try:
        import uvicorn

        from videovq.ui.app import create_app
    except ImportError as e:
        raise InputError(f"videovq ui needs the ui extra ({e.name} is missing): pip install 'videovq[ui]'") from None
    app = create_app(workdir, max_upload_bytes, host, device, tokenizer)
    shown = f"[{host}]" if ":" in host else host
    print(f"videovq ui: working folder {Path(workdir).resolve()}; open http://{shown}:{port}/ (Ctrl+C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


class BackgroundServer:
    """`with BackgroundServer(app) as s:` serves `app` on a free loopback port at `s.url` from a thread."""

    def __init__(self, app):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "BackgroundServer":
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the ui server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
