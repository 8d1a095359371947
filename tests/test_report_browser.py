"""The HTML report as a person sees it: opened in real headless Chromium (Debian's
chromium-headless-shell, which scripts/test.sh installs), every image loads, the console stays quiet,
and the page is not blank."""

import io

import numpy as np

from benchmarks.report import document
from tests import browser
from tests.helpers import two_arch_folder


def test_the_html_report_opens_in_chromium_with_every_image_loaded(tmp_path):
    page = document.write(two_arch_folder(tmp_path / "results"), tmp_path / "out", "html")
    seen = browser.inspect(page)
    assert seen["images"] and all(width > 0 for width in seen["images"]), seen["images"]
    assert not seen["errors"], seen["errors"]
    assert "archbench" in seen["title"].lower()
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(seen["screenshot"]), format="png")[..., :3]
    assert pixels.shape[0] > 500 and pixels.std() > 0.05  # text, tables and figures, not a blank page
    assert (np.abs(pixels - pixels[0, 0]).sum(axis=-1) > 0.1).mean() > 0.02


def test_a_broken_image_is_seen_as_broken(tmp_path):
    """The check above can fail: an image that does not load has natural width 0."""
    page = tmp_path / "broken.html"
    page.write_text('<html><head><title>t</title></head><body><img src="missing.png"><p>x</p></body></html>')
    seen = browser.inspect(page)
    assert seen["images"] == [0]
    assert seen["errors"]  # Chromium logs the failed load
