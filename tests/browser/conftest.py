"""A live app on 127.0.0.1 (werkzeug server in a thread), a real RQ worker loop in another
thread, and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True
    )


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class Worker:
    """Runs queued jobs in bursts while `running` is set (tests pause it to watch a send in flight)."""

    def __init__(self, app) -> None:
        self.app = app
        self.running = threading.Event()
        self.running.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rq-worker", daemon=True)

    def _loop(self) -> None:
        from rq import Queue
        from rq.timeouts import TimerDeathPenalty

        from app.services.queueing import DEFAULT_QUEUES
        from jobs.worker import AppSimpleWorker

        class ThreadWorker(AppSimpleWorker):
            death_penalty_class = TimerDeathPenalty  # SIGALRM only works in the main thread

            def _install_signal_handlers(self) -> None:
                pass  # signal handlers too: this worker lives in a thread

        connection = self.app.extensions["redis"]
        while not self._stop.is_set():
            if self.running.is_set():
                try:
                    worker = ThreadWorker(
                        [Queue(q, connection=connection) for q in DEFAULT_QUEUES], connection=connection
                    )
                    worker.app = self.app
                    worker.work(burst=True, with_scheduler=False)
                except Exception:  # keep serving the test; the failure shows as a stuck batch
                    logging.getLogger(__name__).exception("worker burst failed")
            time.sleep(0.2)

    def start(self) -> Worker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def live(app):
    """(base_url, worker) for the test's own app: server + worker threads on its DB and Redis."""
    logging.getLogger("rq.worker").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    worker = Worker(app).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", worker
    finally:
        worker.stop()
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    pg.on("dialog", lambda dialog: dialog.accept())  # the confirm() of Batch now / Resend
    yield pg
    context.close()
