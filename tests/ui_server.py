"""One in-process web app over a temporary copy of the seeds, shared by the UI test modules.

Building the seed index with the real embedding model takes a while on a loaded CPU, so the server is
started once per test process (on a free loopback port) and closed when the process exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag import Assistant

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


@dataclass(frozen=True)
class Server:
    url: str
    corpus: Path
    index_dir: Path
    qa: Assistant


_lock = threading.Lock()
_server: Server | None = None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shared_server() -> Server:
    """The app serving a fresh copy of seeds/ (built on first call) with the default reader, as users get it."""
    global _server
    with _lock:
        if _server is None:
            from ui.app import create_app, launch, open_or_build

            base = Path(tempfile.mkdtemp(prefix="rag-ui-test-"))
            corpus = base / "corpus"
            shutil.copytree(SEEDS, corpus)
            qa = open_or_build(base / "index", corpus)
            app = create_app(qa)
            url = launch(app, host="127.0.0.1", port=free_port(), block=False)

            def stop() -> None:
                app.close()
                shutil.rmtree(base, ignore_errors=True)

            atexit.register(stop)
            _server = Server(url.rstrip("/") + "/", corpus, base / "index", qa)
        return _server
