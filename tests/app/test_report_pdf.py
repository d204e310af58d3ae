"""The PDF report carries its charts: one image per chart at the chart's own width, every
chart's title in the text, and ink on every page."""

import shutil
import subprocess

import pytest

from analysis.queue.report import chart_images, charts, render_markdown, report_document
from analysis.report.charts import WIDTH
from app.report_pdf import CHART_SCALE, write_pdf
from tests.analysis.queue.regressed_log import reviewed_queue
from tests.app.pdf_pages import DARK_PIXELS_OF_A_LINE, dark_pixels_per_page


@pytest.mark.skipif(shutil.which("pdfimages") is None, reason="needs poppler-utils (pdfimages, pdftotext, pdftoppm)")
def test_every_chart_is_an_image_in_the_pdf(tmp_path, store, qapp):
    _, queue, _ = reviewed_queue(tmp_path, store)
    document = report_document(queue)
    queue.workspace.close()
    pdf = tmp_path / "r.pdf"
    write_pdf(render_markdown(document, images=True), pdf, chart_images(document))
    listed = subprocess.run(["pdfimages", "-list", pdf], capture_output=True, text=True, check=True).stdout
    images = [line.split() for line in listed.splitlines()[2:]]
    assert len(images) == len(charts(document))
    assert {int(row[3]) for row in images} == {WIDTH * CHART_SCALE}
    text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout
    assert "Error rate of the slice by version" in text and "Status changes" in text
    assert all(dark > DARK_PIXELS_OF_A_LINE for dark in dark_pixels_per_page(pdf, tmp_path))
