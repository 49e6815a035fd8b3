"""`protoflow serve` end to end in headless Chromium (Selenium, Debian's chromium and
chromium-driver, no browser download): pick a start, a target, run, and check that the decoded
strips and curves are shown and that a number on the page is the API's.

The screenshot goes to ``tmp_path``; set ``PROTOFLOW_SCREENSHOT=docs/img/explorer.png`` (and
``PROTOFLOW_SERVE_RUN=runs/digits`` for the demo run rather than the tiny one made here) to
refresh the one in the docs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("sklearn")
webdriver = pytest.importorskip("selenium.webdriver")

CHROMIUM = os.environ.get("PROTOFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PROTOFLOW_CHROMEDRIVER", "/usr/bin/chromedriver")
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from protoflow.serve import Explorer, create_app  # noqa: E402

_spec = importlib.util.spec_from_file_location("serve_api_tests",
                                               Path(__file__).with_name("test_serve.py"))
_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, Explorer) of a server in a background thread over a run folder."""
    run_dir = os.environ.get("PROTOFLOW_SERVE_RUN")
    run_dir = Path(run_dir) if run_dir else _api.make_run(tmp_path_factory.mktemp("browser"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in run_dir.rglob("*") if p.is_file()}
    explorer = Explorer(run_dir)
    explorer.warm_up()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(explorer), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", explorer
    server.should_exit = True
    thread.join(10)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1050", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def _decoded(driver, element) -> bool:
    return driver.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", element)


def test_start_target_run_shows_strips_that_match_the_api(served, browser, tmp_path):
    url, explorer = served
    wait = WebDriverWait(browser, 15)
    browser.get(url + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    map_img = browser.find_element(By.ID, "map")
    wait.until(lambda d: _decoded(d, map_img))

    # 1. start: the fourth sample of the gallery
    figures = browser.find_elements(By.CSS_SELECTOR, "#gallery figure")
    assert len(figures) == 24
    wait.until(lambda d: all(_decoded(d, f.find_element(By.TAG_NAME, "img")) for f in figures))
    figures[3].click()
    sample = int(figures[3].get_attribute("data-index"))
    assert browser.find_element(By.ID, "start-text").text.startswith(f"sample {sample}")
    assert "selected" in figures[3].get_attribute("class")

    # 2. target: the class "1" (cluster mode over its units)
    Select(browser.find_element(By.ID, "target-label")).select_by_value("1")

    # 3. settings: gamma 0.8, 40 steps
    gamma = browser.find_element(By.CSS_SELECTOR, "input.param[data-name=gamma]")
    gamma.clear()
    gamma.send_keys("0.8")
    steps = browser.find_element(By.ID, "steps")
    steps.clear()
    steps.send_keys("40")

    # 4. run, and wait for the answer
    browser.find_element(By.ID, "run").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-done"))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-done") == "1", \
        browser.find_element(By.ID, "error").text
    for key in ("strips", "curves", "maps"):
        img = browser.find_element(By.ID, key)
        wait.until(lambda d, img=img: _decoded(d, img))
        assert img.is_displayed()

    # the numbers shown are the API's
    expected = explorer.paths({"start": {"sample": sample}, "target": {"label": 1}, "steps": 40,
                               "params": {"gamma": 0.8}}, figures=False)
    for name in ("music", "linear"):
        c = expected["controllers"][name]
        assert browser.find_element(By.ID, f"{name}-final-bmu").text == str(c["final_bmu"])
        assert browser.find_element(By.ID, f"{name}-length").text == f"{c['path_length']:.4f}"
        assert browser.find_element(By.ID, f"{name}-confidence").text == f"{c['confidence'][-1]:.4f}"
    assert "40 steps" in browser.find_element(By.ID, "timing").text

    # a bad input is shown as the server's message, not a broken page
    browser.find_element(By.CSS_SELECTOR, "input[name=target-kind][value=unit]").click()
    unit = browser.find_element(By.ID, "target-unit")
    unit.clear()
    unit.send_keys(str(explorer.n_units + 5))
    browser.find_element(By.ID, "run").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-done") == "error")
    assert "target unit must be in" in browser.find_element(By.ID, "error").text
    # back to the good answer for the screenshot
    unit.clear()
    browser.find_element(By.CSS_SELECTOR, "input[name=target-kind][value=label]").click()
    browser.find_element(By.ID, "run").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-done") == "1")
    wait.until(lambda d: _decoded(d, d.find_element(By.ID, "maps")))

    browser.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "explorer.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    target = os.environ.get("PROTOFLOW_SCREENSHOT")
    if target:
        _save_small(shot, Path(target))


def _save_small(src: Path, dst: Path) -> None:
    """The screenshot as a palette PNG (a fraction of the size), for the docs."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image
    except ImportError:
        shutil.copyfile(src, dst)
        return
    with Image.open(src) as im:
        im.convert("RGB").quantize(colors=128).save(dst, optimize=True)
