#!/usr/bin/env python3
"""Take the screenshots of docs/web.md: the console's overview and a tube page,
under load (a producer and workers on a real beanstalkd, some jobs failing).

Needs beanstalkd, the dev extra (aiohttp, playwright) and Debian's chromium:
    .venv/bin/python scripts/web_screenshots.py
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess
from beanstalkm.web import Options, serve

DOCS = Path(__file__).resolve().parent.parent / "docs"
TUBES = {"emails": 40, "orders": 25, "reports": 6, "thumbnails": 15}
RUN = 75.0  # seconds of load before the pictures
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def produce(address: tuple[str, int], stop: threading.Event) -> None:
    with Client(*address) as client:
        n = 0
        while not stop.is_set():
            for tube, per_second in TUBES.items():
                for _ in range(random.randint(0, per_second // 5 * 2)):
                    n += 1
                    client.put({"n": n, "to": f"user{n % 97}@example.com"}, tube=tube)
            client.queue.use("reports")
            if random.random() < 0.1:
                client.queue.put(json.dumps({"report": n}).encode(), delay=60)
            time.sleep(0.2)


def work(address: tuple[str, int], stop: threading.Event, pace: float) -> None:
    with Client(*address, watch=list(TUBES)) as client:
        while not stop.is_set():
            message = client.reserve(timeout=1, drop=False)
            if message is None:
                continue
            time.sleep(pace)
            if random.random() < 0.03:
                message.bury()
            else:
                message.delete()


def main() -> None:
    random.seed(7)
    with BeanstalkdProcess() as address:
        stop = threading.Event()
        threads = [threading.Thread(target=produce, args=(address, stop))]
        threads += [threading.Thread(target=work, args=(address, stop, 0.012)) for _ in range(5)]
        for thread in threads:
            thread.start()
        urls: list[str] = []
        threading.Thread(
            target=lambda: asyncio.run(serve(Options([address]), "127.0.0.1", 0, urls.append)),
            daemon=True,
        ).start()
        time.sleep(RUN)
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            browser = playwright.chromium.launch_persistent_context(
                profile, executable_path="/usr/bin/chromium", args=FLAGS,
                viewport={"width": 1000, "height": 900},
            )  # fmt: skip
            page = browser.new_page()
            page.goto(urls[0])
            page.wait_for_selector("#tubes tr[data-tube]")
            time.sleep(2)
            page.screenshot(path=str(DOCS / "web-overview.png"), full_page=True)
            page.goto(urls[0] + "tube?name=emails")
            page.wait_for_selector("article.job")
            time.sleep(2)
            page.screenshot(path=str(DOCS / "web-tube.png"), full_page=True)
            browser.close()
        stop.set()
        for thread in threads:
            thread.join()


if __name__ == "__main__":
    main()
