"""The demo suite answers through gradio_client and renders in a real (headless) browser."""

import re
import shutil

import pytest


@pytest.fixture(scope="module")
def served_suite():
    from apps.suite import build

    demo = build()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, share=False, prevent_thread_lock=True,
                            quiet=True)
    yield url
    demo.close()


def test_ganlab_tab_trains_live_through_gradio_client(served_suite):
    from gradio_client import Client

    client = Client(served_suite, verbose=False)
    picture, status = client.predict("ring8", "hinge", "none", 1.0, 0.1, 0.05, 2, ["spectral norm", "EMA of G"], 100, 3,
                                     api_name="/train_ganlab")
    from PIL import Image

    assert Image.open(picture).size == (320, 320)
    assert status.startswith("step 100/100") and "modes" in status


def test_pix2pix_tab_translates_any_size_through_gradio_client(served_suite, tmp_path):
    from gradio_client import Client, handle_file
    from PIL import Image

    from apps.pix2pix_app import WEIGHTS, draw_label_map
    from translate.weights import available

    if WEIGHTS not in available():
        pytest.skip(f"weights/{WEIGHTS} is not shipped")
    Image.fromarray(draw_label_map(5, 300, 200)).save(tmp_path / "map.png")
    tile = Client(served_suite, verbose=False).predict(handle_file(str(tmp_path / "map.png")),
                                                       api_name="/translate_pix2pix")
    assert Image.open(tile).size == (300, 200)
    drawing = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "map.png"))}
    drawn = Client(served_suite, verbose=False).predict(drawing, api_name="/translate_drawing")
    assert Image.open(drawn).size == (300, 200)


def test_super_resolution_tab_answers_through_gradio_client(served_suite, tmp_path):
    import numpy as np
    from gradio_client import Client, handle_file
    from PIL import Image

    from apps.srgan_app import WEIGHTS, synthetic_photo
    from translate.weights import available

    if WEIGHTS not in available():
        pytest.skip(f"weights/{WEIGHTS} is not shipped")
    Image.fromarray(synthetic_photo(3, 40)[:, :30]).save(tmp_path / "photo.png")
    client = Client(served_suite, verbose=False)
    comparison, result = client.predict(handle_file(str(tmp_path / "photo.png")), "SRGAN ×4 (GAN)", None, 16, False,
                                        api_name="/super_resolve")
    bicubic, model = (Image.open(path) for path in comparison)
    assert bicubic.size == model.size == Image.open(result).size == (120, 160)
    comparison, _ = client.predict(handle_file(str(tmp_path / "photo.png")), "SRGAN ×4 (GAN)", None, 16, True,
                                   api_name="/super_resolve")  # bfloat16 (the default where it is fast): close
    full, half = np.asarray(model).astype(int), np.asarray(Image.open(comparison[1])).astype(int)
    assert not np.array_equal(full, half) and np.abs(full - half).mean() < 3


def test_a_broken_checkpoint_upload_shows_its_one_line_reason(served_suite, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    from PIL import Image

    from apps.srgan_app import LOADED, synthetic_photo

    Image.fromarray(synthetic_photo(3, 24)).save(tmp_path / "photo.png")
    (tmp_path / "broken.pth").write_bytes(b"")
    with pytest.raises(AppError, match=r"broken.pth: not a readable checkpoint \(the file is empty or cut short\)"):
        Client(served_suite, verbose=False).predict(handle_file(str(tmp_path / "photo.png")), LOADED,
                                                    handle_file(str(tmp_path / "broken.pth")), 16,
                                                    api_name="/super_resolve")


def test_cyclegan_tab_translates_both_ways_through_gradio_client(served_suite, tmp_path):
    from gradio_client import Client, handle_file
    from PIL import Image

    from apps.cyclegan_app import DIRECTIONS, WEIGHTS
    from apps.pix2pix_app import draw_label_map
    from translate.weights import available

    if WEIGHTS not in available():
        pytest.skip(f"weights/{WEIGHTS} is not shipped")
    Image.fromarray(draw_label_map(4, 210, 170)).save(tmp_path / "map.png")
    for direction in DIRECTIONS:
        translated, reconstructed = Client(served_suite, verbose=False).predict(
            handle_file(str(tmp_path / "map.png")), direction, api_name="/translate_cyclegan")
        assert Image.open(translated).size == Image.open(reconstructed).size == (210, 170)


def test_semisup_tab_classifies_a_drawing_through_gradio_client(served_suite, tmp_path):
    import numpy as np
    from gradio_client import Client, handle_file
    from PIL import Image

    from apps.semisup_app import WEIGHTS, shipped_label_counts
    from translate.weights import available

    if WEIGHTS not in available():
        pytest.skip(f"weights/{WEIGHTS} is not shipped")
    canvas = np.full((280, 280, 3), 255, np.uint8)
    canvas[40:240, 130:150] = 0  # a "1"
    Image.fromarray(canvas).save(tmp_path / "one.png")
    drawing = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "one.png"))}
    client = Client(served_suite, verbose=False)
    runs = shipped_label_counts()
    for labels, name in runs.items():  # every shipped run, as the demo's slider over N picks it
        label, real = client.predict(drawing, labels, api_name="/classify_digit")
        assert len(label["confidences"]) == 10 and real.startswith("D(x) = ") and real.endswith(f"by {name}")
    if len(runs) > 1:  # a slider position between two shipped N is read by the nearer run
        fewer, more = list(runs)[-2:]
        _, real = client.predict(drawing, fewer + (more - fewer) // 3, api_name="/classify_digit")
        assert real.endswith(f"by {runs[fewer]}")


def test_semisup_tab_has_a_slider_over_the_shipped_n_that_settles_on_the_nearest():
    import math

    import gradio as gr

    from apps.semisup_app import nearest_shipped, render, shipped_label_counts

    counts = list(shipped_label_counts())
    if len(counts) < 2:
        pytest.skip("fewer than two semisup-mnistN runs are shipped, so there is no N to choose")
    with gr.Blocks() as blocks:
        render()
    [slider] = [c for c in blocks.blocks.values() if isinstance(c, gr.Slider)]
    assert (slider.minimum, slider.maximum) == (counts[0], counts[-1])
    assert all((count - counts[0]) % slider.step == 0 for count in counts) and slider.step == math.gcd(*counts)
    for fewer, more in zip(counts, counts[1:]):
        assert nearest_shipped(fewer) == fewer and nearest_shipped(more) == more
        assert nearest_shipped(fewer + (more - fewer) * 0.4) == fewer
        assert nearest_shipped(more - (more - fewer) * 0.4) == more


def test_semisup_demo_reads_a_digit_drawn_small_in_a_corner_and_refuses_an_empty_canvas():
    import cv2
    import gradio as gr
    import numpy as np

    from apps.semisup_app import WEIGHTS, classify_drawing
    from translate.weights import available

    if WEIGHTS not in available():
        pytest.skip(f"weights/{WEIGHTS} is not shipped")
    for (left, top), size, brush in (((20, 20), 1.0, 8), ((60, 40), 2.6, 18)):  # small in a corner; large
        canvas = np.full((280, 280, 3), 255, np.uint8)
        bar_end, foot = (left + int(60 * size), top), (left + int(25 * size), top + int(90 * size))
        cv2.line(canvas, (left, top), bar_end, (0, 0, 0), brush)  # a "7"
        cv2.line(canvas, bar_end, foot, (0, 0, 0), brush)
        probabilities, _ = classify_drawing({"composite": canvas})
        assert max(probabilities, key=probabilities.get) == "7"  # only resized to 28×28, the small one read as 1
    with pytest.raises(gr.Error, match="empty"):
        classify_drawing({"composite": np.full((280, 280, 4), 255, np.uint8)})


def test_drawn_label_maps_use_the_palette_only():
    import numpy as np

    from apps.pix2pix_app import draw_label_map

    colours = {tuple(c) for c in np.unique(draw_label_map(0).reshape(-1, 3), axis=0)}
    assert colours <= {(0, 0, 0), (255, 255, 0), (255, 0, 0)} and len(colours) == 3


def test_ganlab_app_also_runs_alone():
    from apps import ganlab_app

    assert ganlab_app.demo() is not None


def test_a_busy_port_is_a_one_line_error_before_anything_loads(capsys):
    import socket

    from translate.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--port", str(port)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: cannot serve the demo on 127.0.0.1:{port} (Address already in "
                                               f"use): stop what uses it, or pick another port, e.g. `translate demo "
                                               f"--port {port + 1}`")


@pytest.mark.parametrize("app", ["cyclegan", "pix2pix", "srgan"])
def test_demos_refuse_uploads_too_big_for_a_cpu_answer(app):
    import importlib

    import gradio as gr
    import numpy as np

    module = importlib.import_module(f"apps.{app}_app")
    handler = {"cyclegan": lambda image: module.translate_both_ways(image, "AtoB"),
               "pix2pix": lambda image: module.translate_label_map(image),
               "srgan": lambda image: module.super_resolve_photo(image, next(iter(module.MODELS)), None, 0)}[app]
    side = int(module.MAX_INPUT_PIXELS**0.5) + 1
    limit = {"cyclegan": "4 megapixels", "pix2pix": "4 megapixels", "srgan": "1 megapixel"}[app]
    with pytest.raises(gr.Error, match=f"{side}×{side} is large for this demo \\(limit {limit}\\)"):
        handler(np.zeros((side, side, 3), np.uint8))


def _headless_chromium(playwright):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    return playwright.chromium.launch(executable_path=chromium, headless=True,
                                      args=["--no-sandbox", "--disable-gpu",
                                            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])


def test_suite_renders_in_headless_chromium(served_suite):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _headless_chromium(p)
        page = browser.new_page()
        page.goto(served_suite)
        page.get_by_role("tab", name="GAN lab").wait_for(timeout=30000)
        page.get_by_role("tab", name="GAN lab").click()  # the first tab may be another pipeline's
        page.get_by_role("button", name="Train").wait_for(timeout=30000)
        assert "translate" in page.title() or page.get_by_text("Image-to-image translation").count() > 0
        browser.close()


def test_semisup_slider_settles_on_the_nearest_shipped_n_in_headless_chromium(served_suite):
    from playwright.sync_api import expect, sync_playwright

    from apps.semisup_app import shipped_label_counts

    counts = list(shipped_label_counts())
    if len(counts) < 2:
        pytest.skip("fewer than two semisup-mnistN runs are shipped, so there is no slider")
    fewer, more = counts[-2:]
    with sync_playwright() as p:
        browser = _headless_chromium(p)
        page = browser.new_page()
        page.goto(served_suite)
        page.get_by_role("tab", name="semi-supervised").click()
        page.get_by_role("button", name="Generator samples").click()
        grid = page.locator("#semisup-samples img")
        grid.wait_for(timeout=30000)
        shown_by_default_n = grid.get_attribute("src")
        number_box = page.get_by_label("number input for labels the classifier learned from (N)")
        number_box.fill(str(more - (more - fewer) // 3))  # the most labels: never where the slider starts
        number_box.press("Tab")  # leaving the box releases the slider, as letting go of its handle does
        expect(number_box).to_have_value(str(more), timeout=30000)
        expect(page.get_by_label("range slider for labels the classifier learned from (N)")).to_have_value(str(more))
        expect(grid).not_to_have_attribute("src", shown_by_default_n, timeout=30000)  # drawn again by the new run
        browser.close()


def test_semisup_reads_a_digit_as_it_is_drawn_and_empties_when_cleared_in_headless_chromium(served_suite):
    from playwright.sync_api import expect, sync_playwright

    from apps.semisup_app import WEIGHTS
    from translate.weights import available

    if WEIGHTS not in available():
        pytest.skip(f"weights/{WEIGHTS} is not shipped")
    with sync_playwright() as p:
        browser = _headless_chromium(p)
        page = browser.new_page()
        page.goto(served_suite)
        page.get_by_role("tab", name="semi-supervised").click()
        pad = page.locator("#semisup-canvas")
        pad.get_by_role("button", name="Brush").click()
        box = pad.locator("canvas").first.bounding_box()
        centre_x, centre_y, reach = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 90
        stroke = [(-0.6, -0.8), (0.6, -0.8), (-0.1, 0.9)]  # a "7": its bar, then its stem, in one stroke
        page.mouse.move(centre_x + reach * stroke[0][0], centre_y + reach * stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(centre_x + reach * x, centre_y + reach * y, steps=20)
        page.mouse.up()
        score = page.get_by_label("implicit real/fake score")
        expect(score).to_have_value(re.compile(f"by {WEIGHTS}$"), timeout=30000)  # read with no click on Classify
        expect(page.locator("#semisup-probabilities [data-testid=label-output-value]")).to_have_text("7")
        pad.get_by_role("button", name="Clear canvas").click()
        expect(score).to_have_value("", timeout=30000)  # a cleared canvas is not read as the digit it held
        browser.close()
