"""The report's charts carry the right numbers: failures per group as the queue counts them,
the status flow as the history recorded it (an undone decision is a move back), and the
regressed kiosk slice in both versions with the rates pandas and scipy compute on the same
rows; the HTML inlines every chart, the Markdown for a PDF names each as an image."""

import base64
import re
from xml.etree import ElementTree

import pytest
from scipy import stats

from analysis.queue.report import chart_images, charts, render_html, render_markdown, report_document
from analysis.report.formatting import percent
from tests.analysis.queue.regressed_log import reviewed_queue


@pytest.fixture
def reviewed(tmp_path, store):
    log, queue, kiosk = reviewed_queue(tmp_path, store)
    yield log, queue, kiosk
    queue.workspace.close()


def test_failures_and_status_flow_charts_count_what_the_queue_holds(reviewed):
    _, queue, _ = reviewed
    document = report_document(queue)
    assert document["failures_chart"].rows == tuple((f"{g.id}. {g.title}", str(g.failures)) for g in queue.groups())
    flow = dict(document["status_chart"].rows)
    assert flow == {"found → new": str(len(queue.groups())), "new → decided": "2", "decided → new": "1"}


def test_the_regressed_slice_chart_shows_both_versions_with_their_intervals(reviewed):
    log, queue, kiosk = reviewed
    document = report_document(queue)
    section = next(g for g in document["groups"] if g["id"] == kiosk.id)
    chart = next(c for c in section["charts"] if c.name.endswith("_versions"))
    expected = []
    for version in ("v1", "v2"):
        rows = log[(log["segment"] == "kiosk") & (log["model_version"] == version)]
        errors = int((rows["label"] != rows["prediction"]).sum())
        ci = stats.binomtest(errors, len(rows)).proportion_ci(method="wilson")
        expected.append((version, percent(errors / len(rows)), f"{percent(ci.low)} – {percent(ci.high)}",
                         f"{len(rows):,}"))
        dot = next(d for d in ElementTree.fromstring(chart.svg).iter("{http://www.w3.org/2000/svg}circle")
                   if d.find("{http://www.w3.org/2000/svg}title").text.startswith(version))
        assert float(dot.get("data-value")) == pytest.approx(errors / len(rows), abs=1e-6)
    assert chart.rows == tuple(expected)
    assert section["versions_text"].startswith("Against v1, the version before, the slice regressed")


def test_html_inlines_every_chart_and_markdown_names_each_image(reviewed):
    _, queue, _ = reviewed
    document = report_document(queue)
    html = render_html(document)
    uris = re.findall(r'<img alt="[^"]+" src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(uris) == len(charts(document)) >= 4
    for uri in uris:
        assert ElementTree.fromstring(base64.b64decode(uri)).tag == "{http://www.w3.org/2000/svg}svg"
    with_images = render_markdown(document, images=True)
    assert all(f"]({name})" in with_images for name in chart_images(document))
    assert "](" not in render_markdown(document).split("## Groups")[0]
    assert "| new → decided | 2 |" in render_markdown(document)


def test_a_chart_without_values_is_a_sentence(tmp_path):
    from analysis.queue.failure_queue import FailureQueue
    from analysis.workspace.workspace_file import Workspace

    workspace = Workspace.open(tmp_path / "empty.sleuth")
    document = report_document(FailureQueue(workspace, user="ana"))
    workspace.close()
    assert charts(document) == [] and "data:image" not in render_html(document)
    assert "Status changes: none." in render_markdown(document, images=True)
    assert "Failures per group: none." in render_html(document)
