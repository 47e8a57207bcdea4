"""The web app at / in a real Chromium against a real server: upload, ask, cite, preview, settings,
search, export, follow-ups, stopping a long answer, a phone-sized screen, keyboard only, hostile
text that must never run, and re-indexing a document from the library.

One server serves the module (``app_server``): its documents are uploaded once (``library``).
Two scripted models stand in for model servers (``scripted_model.py``): ``hostile`` answers with
script and an unsupported claim, ``slow`` writes a word every 0.2 s.  Every page may reach this
machine only, and each test asserts that it asked for nothing else.  Screenshots of the main
screens go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import docx
import httpx
import pypdf
import pytest
from api.conftest import live_server as serve
from documents.conftest import pdf_bytes
from playwright.sync_api import Locator, Page, Route, expect

from docchat.api.app import create_app
from docchat.config import LLMSettings, ModelSettings, Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

from .conftest import ARTIFACTS, LiveServer, assert_fits, shoot
from .scripted_model import REPLIES, run_scripted_model

#: First-load JavaScript budget of the app.
JS_BUDGET_BYTES = 300 * 1024
TIMEOUT_MS = 60_000
# An answer takes seconds on a loaded machine: assertions wait as long as page actions do.
expect.set_options(timeout=TIMEOUT_MS)

PDF_NAME = "safety-manual.pdf"
PDF_PAGES = [
    ["Safety manual of the Leiden plant.", "Fire doors close automatically when the alarm sounds."],
    [
        "Emergency power.",
        "The emergency generator is tested every second Tuesday at 07:30.",
        "The test lasts twenty minutes and is logged by the facilities team.",
    ],
]
DOCX_NAME = "travel-rules.docx"
# What the upload test sends through the page: names and words of their own, so that the other
# tests (which read the `library` documents) neither find nor cite them.
UPLOADED_PDF, UPLOADED_DOCX = "canteen-notes.pdf", "front-desk.docx"
UPLOADED_PAGES = [
    ["Canteen notes of the Delft office.", "Lunch is served from noon until two."],
    ["Coffee.", "The coffee machine is descaled every Friday."],
]
UPLOADED_TEXT = (
    "Parking permits are issued by the front desk.",
    "Guests park on level minus one.",
)
DOCX_TEXT = (
    "Train travel in second class is reimbursed for trips under 600 kilometres.",
    "Flights need written approval from the finance director before booking.",
)
# Script in a document's text, in a file name and in a model's reply: none of it may run.
HOSTILE_NAME = "<img src=x onerror=window.__pwned='name'>.md"
HOSTILE_TEXT = (
    "# Zebra audit\n\n"
    "The zebra audit happens every March <img src=x onerror=\"window.__pwned='doc'\"> "
    "in the north wing.\n\n"
    "<script>window.__pwned='doc-script'</script>\n\n"
    "The zebra audit report goes to the board of directors.\n"
)
REPLIES["hostile"] = (
    "The zebra audit report goes to the board of directors [1].\n\n"
    "<script>window.__pwned='model'</script>\n\n"
    "<img src=x onerror=\"window.__pwned='model-img'\"> "
    "See [details](javascript:window.__pwned='link').\n\n"
    "The zebra audit is performed by seven astronauts on the moon [1]."
)
# A sentence said twice, unsupported both times, around supported ones citing the same passage.
REPLIES["repeats"] = (
    "The zebra audit happens every March in the north wing [1]. "
    "The zebra audit is performed by seven astronauts on the moon [1]. "
    "The zebra audit report goes to the board of directors [1]. "
    "The zebra audit is performed by seven astronauts on the moon [1]."
)


def docx_bytes(paragraphs: tuple[str, ...] = DOCX_TEXT, heading: str = "Travel") -> bytes:
    document = docx.Document()
    document.add_heading(heading, level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def app_server(
    tmp_path_factory: pytest.TempPathFactory, minilm: MiniLMEmbedder
) -> Iterator[httpx.Client]:
    """docchat on SQLite in a temporary data dir, with the scripted models configured."""
    with run_scripted_model() as model_url:
        scripted = {
            name: ModelSettings(
                provider="openai",
                base_url=model_url,
                model=name,
                context_window=8192,
                max_retries=0,
            )
            for name in ("hostile", "repeats", "slow")
        }
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("web-app"), llm=LLMSettings(models=scripted)
        )
        app = create_app(settings, workspace=partial(Workspace, embedder=minilm))
        with serve(app) as client:
            yield client


@pytest.fixture(scope="module")
def url(app_server: httpx.Client) -> str:
    return str(app_server.base_url).rstrip("/") + "/"


@pytest.fixture(scope="module")
def library(app_server: httpx.Client) -> dict[str, str]:
    """The test documents, uploaded through the API once per server; their ids by file name."""
    wanted = {
        PDF_NAME: (pdf_bytes(PDF_PAGES), "manuals"),
        DOCX_NAME: (docx_bytes(), "manuals"),
        HOSTILE_NAME: (HOSTILE_TEXT.encode(), "misc"),
    }
    present = {d["file_name"] for d in app_server.get("/api/documents").json()["items"]}
    for name, (data, collection) in wanted.items():
        if name in present:
            continue
        accepted = app_server.post(
            "/api/documents", data={"collection": collection}, files={"files": (name, data)}
        )
        assert accepted.status_code == 202, accepted.text
        wait_for_task(app_server, accepted.json()["task_id"])
    docs = app_server.get("/api/documents").json()["items"]
    return {d["file_name"]: d["id"] for d in docs}


def wait_for_task(client: httpx.Client, task_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        task: dict[str, object] = client.get(f"/api/tasks/{task_id}").json()
        if task["status"] not in ("queued", "running"):
            assert task["status"] == "succeeded", task
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish")


@pytest.fixture
def app(
    page: Page, url: str, foreign_requests: list[str], library: dict[str, str]
) -> Iterator[Page]:
    """The app loaded and started, the `library` documents on its server (xdist runs a module's
    tests in any order, so none may count on another to upload them); afterwards, no request
    left this machine and no script from a document, file name or model ran."""
    assert PDF_NAME in library and DOCX_NAME in library
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("body.ready")
    yield page
    assert foreign_requests == []
    assert page.evaluate("window.__pwned") is None
    assert errors == []


def ask(page: Page, question: str) -> Locator:
    """Type and send a question; the finished answer."""
    before = page.locator("#messages > li.message.assistant:not(.streaming)").count()
    page.fill("#composer-input", question)
    page.press("#composer-input", "Enter")
    answer = page.locator("#messages > li.message.assistant:not(.streaming)").nth(before)
    expect(answer).to_be_visible()
    return answer


def new_chat(page: Page) -> None:
    page.click("#new-chat")
    expect(page.locator("#chat-title")).to_have_text("New chat")


def highlighted_pixels(image: Locator) -> int:
    """Pixels of the page image in the highlight's yellow (docchat.documents.pages)."""
    expect(image).to_have_js_property("complete", True)
    return int(
        image.evaluate(
            """img => {
              const c = document.createElement('canvas');
              c.width = img.naturalWidth; c.height = img.naturalHeight;
              const g = c.getContext('2d');
              g.drawImage(img, 0, 0);
              const d = g.getImageData(0, 0, c.width, c.height).data;
              let n = 0;
              for (let i = 0; i < d.length; i += 4) {
                if (d[i] > 230 && d[i + 1] > 200 && d[i + 1] < 245 && d[i + 2] < 190) n++;
              }
              return n;
            }"""
        )
    )


# ------------------------------------------------------------------------------------------ tests


def test_an_empty_install_points_to_documents(
    page: Page, live_server: LiveServer, foreign_requests: list[str]
) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(live_server.url + "/")
    page.wait_for_selector("body.ready")
    hint = page.locator("#chat-no-documents")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("There are no documents to ask about yet.")
    hint.get_by_role("link", name="Add documents").click()
    expect(page.locator("#documents-view")).to_be_visible()
    assert page.evaluate("location.hash") == "#/documents"

    # With a document in the library, the chat view no longer says so.
    page.set_input_files(
        "#file-input",
        files=[{"name": "notes.md", "mimeType": "text/markdown", "buffer": b"# Notes\n\nHello.\n"}],
    )
    expect(page.locator("#document-rows")).to_contain_text("notes.md")
    page.click("#nav-chat")
    expect(page.locator("#empty-chat")).to_be_visible()
    expect(hint).to_be_hidden()
    assert foreign_requests == []


def test_page_headers_and_first_load_weight(app: Page, app_server: httpx.Client) -> None:
    response = app_server.get("/")
    policy = response.headers["content-security-policy"]
    for directive in (
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "style-src 'self'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert app_server.get("/static/js/main.js").headers["x-content-type-options"] == "nosniff"

    scripts = app.evaluate(
        """performance.getEntriesByType('resource')
             .filter(e => /\\.m?js(\\?|$)/.test(e.name))
             .map(e => [e.name, e.decodedBodySize])"""
    )
    total = sum(size for _, size in scripts)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "js-weight.txt").write_text(
        "\n".join(f"{size:>8} {name}" for name, size in scripts) + f"\n{total:>8} total bytes\n"
    )
    assert any(name.endswith("/main.js") for name, _ in scripts)
    assert 0 < total <= JS_BUDGET_BYTES, scripts


def test_upload_pdf_and_docx_with_progress(app: Page, tmp_path: Path) -> None:
    # Files of its own: `app` has uploaded the `library` documents to this server already, and a
    # second upload of a name says "Replaced".
    pdf = tmp_path / UPLOADED_PDF
    pdf.write_bytes(pdf_bytes(UPLOADED_PAGES))
    word = tmp_path / UPLOADED_DOCX
    word.write_bytes(docx_bytes(UPLOADED_TEXT, heading="Front desk"))
    app.click("#nav-documents")
    app.fill("#upload-collection", "manuals")
    app.set_input_files("#file-input", [str(pdf), str(word)])
    items = app.locator("#upload-list > li")
    expect(items).to_have_count(2)
    expect(items.locator("progress")).to_have_count(2)
    for item in (items.nth(0), items.nth(1)):
        expect(item).to_have_attribute("data-state", "done")
        expect(item.locator(".upload-status")).to_have_text("Indexed")
    rows = app.locator("#document-rows > tr")
    pdf_row = rows.filter(has_text=UPLOADED_PDF)
    expect(pdf_row).to_contain_text("Indexed")
    expect(pdf_row.locator("td").nth(2)).to_have_text("2")  # pages
    expect(rows.filter(has_text=UPLOADED_DOCX)).to_contain_text("manuals")
    shoot(app, "documents.png")


def test_a_failed_file_shows_its_reason(app: Page, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a PDF")
    app.click("#nav-documents")
    app.fill("#upload-collection", "scratch")
    app.set_input_files("#file-input", str(broken))
    item = app.locator("#upload-list > li").filter(has_text="broken.pdf")
    expect(item).to_have_attribute("data-state", "failed")
    expect(item.locator(".upload-error")).not_to_be_empty()
    row = app.locator("#document-rows > tr").filter(has_text="broken.pdf")
    expect(row).to_contain_text("Failed")
    app.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete broken.pdf").click()
    expect(row).to_have_count(0)


def test_replacing_a_document_says_so_and_invisible_names_are_refused(app: Page) -> None:
    app.click("#nav-documents")
    app.fill("#upload-collection", "replacing")
    items = app.locator("#upload-list > li")
    for version, status in ((b"First version.\n", "Indexed"), (b"Second version.\n", "Replaced")):
        app.set_input_files(
            "#file-input",
            files=[{"name": "minutes.txt", "mimeType": "text/plain", "buffer": version}],
        )
        item = items.first
        expect(item).to_have_attribute("data-state", "done")
        expect(item.locator(".upload-status")).to_contain_text(status)
    # A zero-width space would have made it replace minutes.txt silently; it is refused instead.
    app.set_input_files(
        "#file-input",
        files=[{"name": "min\u200butes.txt", "mimeType": "text/plain", "buffer": b"Third.\n"}],
    )
    refused = items.first
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused.locator(".upload-error")).to_contain_text("U+200B ZERO WIDTH SPACE")
    expect(app.locator("#document-rows > tr").filter(has_text="minutes.txt")).to_have_count(1)


@pytest.mark.usefixtures("library")
def test_ask_stream_cite_preview_and_follow_up(app: Page) -> None:
    tokens: list[str] = []
    app.on(
        "response",
        lambda r: tokens.append(r.url) if r.url.endswith("/chat/stream") else None,
    )
    answer = ask(app, "When is the emergency generator tested?")
    assert tokens, "the answer did not come from the streaming endpoint"
    expect(answer.locator(".answer-body")).to_contain_text("every second Tuesday")
    cite = answer.locator(".answer-body button.cite").first
    expect(cite).to_have_text("[1]")
    expect(app.locator("#chat-title")).to_have_text("When is the emergency generator tested?")
    shoot(app, "chat-answer.png")

    cite.click()
    preview = app.locator("#preview")
    expect(preview).to_be_visible()
    expect(preview.locator(".source-file")).to_have_text(PDF_NAME)
    expect(preview.locator(".source-place")).to_contain_text("page 2")
    expect(preview.locator("mark.cited-span")).to_contain_text(
        "The emergency generator is tested every second Tuesday"
    )
    image = preview.locator("img.page-image")
    expect(image).to_be_visible()
    assert highlighted_pixels(image) > 500, "no highlight drawn on the page image"
    shoot(app, "source-preview-pdf.png")
    app.click("#preview-close")
    expect(preview).to_be_hidden()

    details = answer.locator("details.answer-details")
    details.locator("summary").click()
    expect(details).to_contain_text("extractive")
    expect(details).to_contain_text("Basic")

    follow_up = ask(app, "And how is train travel reimbursed?")
    expect(follow_up.locator(".answer-body")).to_contain_text("second class")
    # What the follow-up was read as is a question a person would write, not a bag of words.
    follow_up.locator("details.answer-details summary").click()
    expect(follow_up.locator("details.answer-details dt:text-is('Read as') + dd")).to_have_text(
        "When is the emergency generator tested? And how is train travel reimbursed?"
    )
    follow_up.locator("button.cite").first.click()
    expect(app.locator("#preview .source-file")).to_have_text(DOCX_NAME)
    expect(app.locator("#preview mark.cited-span")).to_contain_text("Train travel in second class")
    expect(app.locator("#preview img.page-image")).to_have_count(0)
    expect(app.locator("#messages > li.message.user")).to_have_count(2)


@pytest.mark.usefixtures("library")
def test_abstention_looks_different_and_shows_closest_passages(app: Page) -> None:
    answer = ask(app, "What colour are the bicycles in the Jakarta office?")
    expect(answer).to_have_class("message assistant abstained")
    expect(answer.locator(".who")).to_have_text("No answer found in your documents")
    closest = answer.locator(".closest li")
    assert closest.count() >= 1
    closest.first.locator("button").click()
    expect(app.locator("#preview mark.cited-span")).not_to_be_empty()
    # A passage at the start or end of its document has no context there: nothing is printed.
    passage = app.locator("#preview blockquote.passage").inner_text()
    assert not passage.startswith("null") and not passage.endswith("null"), passage
    shoot(app, "abstained.png")


def test_settings_persist_across_reload(
    app: Page, library: dict[str, str], app_server: httpx.Client
) -> None:
    ask(app, "Who logs the generator test?")
    session_id = app.url.rsplit("/", 1)[-1]
    app.click("#settings-toggle")
    model_options = app.locator("#set-model option")
    expect(model_options.filter(has_text="hostile")).to_have_count(1)
    app.select_option("#set-model", "hostile")
    app.select_option("#set-mode", "extensive")
    app.fill("#set-num-results", "5")
    app.fill("#set-keywords", "generator, Tuesday")
    app.fill("#set-language", "Dutch")
    app.fill("#set-instructions", "Answer in one sentence.")
    app.uncheck("#set-memory")
    app.check("#set-web")
    app.locator("#set-collections label").filter(has_text="manuals").locator("input").check()
    app.locator("#set-documents label").filter(has_text=PDF_NAME).locator("input").check()
    shoot(app, "settings.png")
    app.click("#settings-save")
    expect(app.locator("#settings-status")).to_have_text("Saved.")

    app.reload()
    app.wait_for_selector("body.ready")
    app.click("#settings-toggle")
    expect(app.locator("#set-model")).to_have_value("hostile")
    expect(app.locator("#set-mode")).to_have_value("extensive")
    expect(app.locator("#set-num-results")).to_have_value("5")
    expect(app.locator("#set-keywords")).to_have_value("generator, Tuesday")
    expect(app.locator("#set-language")).to_have_value("Dutch")
    expect(app.locator("#set-instructions")).to_have_value("Answer in one sentence.")
    expect(app.locator("#set-memory")).not_to_be_checked()
    expect(app.locator("#set-web")).to_be_checked()
    expect(app.locator("#set-rerank")).to_be_checked()  # the server's default, left unset
    ticked = app.locator("#settings-panel .checklist input:checked")
    expect(ticked).to_have_count(2)

    stored = app_server.get(f"/api/sessions/{session_id}").json()["settings"]
    assert stored["model"] == "hostile"
    assert stored["mode"] == "extensive"
    options = stored["options"]
    assert options["num_results"] == 5
    assert options["manual_keywords"] == ["generator", "Tuesday"]
    assert options["use_memory"] is False
    assert options["enable_web_search"] is True
    assert options.get("enable_reranking") is None  # left to the server default
    assert options["source_filters"] == {
        "collections": ["manuals"],
        "documents": [library[PDF_NAME]],
        "file_globs": [],
    }


@pytest.mark.usefixtures("library")
def test_search_across_chats_opens_the_message(app: Page) -> None:
    ask(app, "How long does the generator test last?")
    new_chat(app)
    app.fill("#chat-search-input", "twenty minutes")
    hits = app.locator("#search-results .hit-link")
    expect(hits.first).to_be_visible()
    expect(hits.first.locator("mark").first).to_be_visible()
    hits.first.click()
    expect(app.locator("#chat-title")).to_have_text("How long does the generator test last?")
    expect(app.locator("#messages li.found")).to_contain_text("twenty minutes")


@pytest.mark.usefixtures("library")
def test_rename_and_delete_a_chat(app: Page) -> None:
    ask(app, "Do fire doors close by themselves?")
    app.click("#rename-chat")
    app.fill("#rename-input", "Fire doors")
    app.press("#rename-input", "Enter")
    expect(app.locator("#chat-title")).to_have_text("Fire doors")
    current = app.locator("#session-list a[aria-current=page]")
    expect(current.locator(".session-title")).to_have_text("Fire doors")
    expect(app.locator("#session-list li").first).to_contain_text("Fire doors")  # most recent
    app.once("dialog", lambda dialog: dialog.accept())
    app.click("#delete-chat")
    expect(app.locator("#chat-title")).to_have_text("New chat")
    expect(app.locator("#session-list").filter(has_text="Fire doors")).to_have_count(0)


@pytest.mark.usefixtures("library")
def test_export_each_format(app: Page, tmp_path: Path) -> None:
    ask(app, "When is the emergency generator tested?")
    files = {}
    for fmt in ("markdown", "json", "docx", "pdf"):
        app.click("#export-menu summary")
        with app.expect_download() as info:
            app.click(f"#export-{fmt}")
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        files[fmt] = path
    # Named after the chat (its first question), not its id.
    assert files["markdown"].name.startswith("When is the emergency generator tested")
    assert "When is the emergency generator tested?" in files["markdown"].read_text()
    exported = json.loads(files["json"].read_text())
    assert "When is the emergency generator tested?" in json.dumps(exported)
    text = "\n".join(p.text for p in docx.Document(str(files["docx"])).paragraphs)
    assert "emergency generator" in text
    assert "every second Tuesday" in text
    pdf_text = "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(files["pdf"]).pages)
    assert "emergency generator" in " ".join(pdf_text.split())


@pytest.mark.usefixtures("library")
def test_stop_a_long_mode(app: Page, app_server: httpx.Client) -> None:
    ask(app, "Where is the Leiden plant?")
    session_id = app.url.rsplit("/", 1)[-1]
    app.click("#settings-toggle")
    app.select_option("#set-model", "slow")
    app.select_option("#set-mode", "full_reading")
    app.click("#settings-save")
    expect(app.locator("#settings-status")).to_have_text("Saved.")
    app.fill("#composer-input", "Summarise every safety rule.")
    app.press("#composer-input", "Enter")
    status = app.locator("#status-line")
    expect(status).to_contain_text("reading")
    expect(app.locator("#stop")).to_be_visible()
    shoot(app, "long-mode-status.png")
    app.keyboard.press("Escape")
    expect(status).to_have_text("Stopped.")
    expect(app.locator("#send")).to_be_visible()
    expect(app.locator("#messages > li.message.assistant").last).to_contain_text("Stopped")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = app_server.get(f"/api/sessions/{session_id}/messages").json()["items"]
        last = messages[-1]
        if last["role"] == "assistant" and (last["metadata"] or {}).get("cancelled"):
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"the stopped turn was not stored as cancelled: {messages[-1]}")
    app.reload()
    app.wait_for_selector("body.ready")
    expect(app.locator("#messages > li.message.assistant.partial").last).to_contain_text("Stopped")


def test_an_interrupted_answer_is_marked_like_a_stopped_one(
    app: Page, url: str, app_server: httpx.Client
) -> None:
    # As a server killed mid-answer leaves it once the next one has started (the API tests kill
    # a real server for it: tests/api/test_chat_recovery.py); appended as such here.
    sid = app_server.post("/api/sessions", json={"title": "Cut off"}).json()["id"]
    for role, content, metadata in [
        ("user", "Summarise the safety rules.", {"mode": "basic"}),
        ("assistant", "The first rule is", {"status": "interrupted", "partial": True}),
        ("user", "And now?", {"mode": "basic"}),
        ("assistant", "Being written", {"status": "streaming", "partial": True}),
    ]:
        added = app_server.post(
            f"/api/sessions/{sid}/messages",
            json={"role": role, "content": content, "metadata": metadata},
        )
        assert added.status_code == 201, added.text
    app.goto(f"{url}#/chat/{sid}")
    answers = app.locator("#messages > li.message.assistant.partial")
    expect(answers).to_have_count(2)
    expect(answers.first).to_contain_text("The first rule is")
    expect(answers.first).to_contain_text(
        "Interrupted: the server stopped before the answer was finished."
    )
    expect(answers.last).to_contain_text("Still being written")


@pytest.mark.usefixtures("library")
def test_phone_sized_screen(app: Page) -> None:
    app.set_viewport_size({"width": 360, "height": 740})
    expect(app.locator("#sidebar")).to_be_hidden()
    answer = ask(app, "When is the emergency generator tested?")
    assert_fits(app, 360)
    shoot(app, "mobile-chat.png")
    answer.locator("button.cite").first.click()
    preview = app.locator("#preview")
    expect(preview).to_be_visible()
    box = preview.bounding_box()
    assert box is not None and box["width"] >= 350
    # The PDF page, highlighted, fits the narrow panel too (and is loaded before the screenshot).
    image = preview.locator("img.page-image")
    expect(image).to_be_visible()
    assert highlighted_pixels(image) > 100, "no highlight drawn on the page image at 360 px"
    assert_fits(app, 360)
    shoot(app, "mobile-preview.png")
    app.click("#preview-close")
    app.click("#sidebar-toggle")
    expect(app.locator("#sidebar")).to_be_visible()
    expect(app.locator("#session-list li").first).to_be_visible()
    shoot(app, "mobile-sidebar.png")
    app.locator("#session-list a").first.click()
    expect(app.locator("#sidebar")).to_be_hidden()
    app.click("#nav-documents")
    expect(app.locator("#document-rows > tr").first).to_be_visible()
    assert_fits(app, 360)
    shoot(app, "mobile-documents.png")


@pytest.mark.usefixtures("library")
def test_keyboard_only(app: Page) -> None:
    focused: Callable[[], str] = lambda: app.evaluate("document.activeElement.id")  # noqa: E731
    for _ in range(60):
        app.keyboard.press("Tab")
        if focused() == "composer-input":
            break
    else:
        raise AssertionError("Tab never reached the question box")
    outline = app.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused control shows no focus ring"
    app.keyboard.type("When is the emergency")
    app.keyboard.press("Shift+Enter")
    app.keyboard.type("generator tested?")
    assert app.input_value("#composer-input") == "When is the emergency\ngenerator tested?"
    app.keyboard.press("Enter")
    answer = app.locator("#messages > li.message.assistant:not(.streaming)").first
    expect(answer).to_be_visible()
    cite = answer.locator("button.cite").first
    for _ in range(80):
        app.keyboard.press("Tab")
        if cite.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError("Tab never reached the citation")
    app.keyboard.press("Enter")
    expect(app.locator("#preview")).to_be_visible()
    app.keyboard.press("Escape")
    expect(app.locator("#preview")).to_be_hidden()
    assert cite.evaluate("el => el === document.activeElement"), "focus did not return"
    for control in app.locator(
        "button:visible, input:visible, select:visible, textarea:visible"
    ).all():
        name = control.evaluate(
            "el => el.labels?.[0]?.textContent || el.getAttribute('aria-label') || el.textContent"
        )
        assert name and name.strip(), control.evaluate("el => el.outerHTML")


@pytest.mark.usefixtures("library")
def test_script_in_documents_names_and_model_output_never_runs(app: Page) -> None:
    answer = ask(app, "When does the zebra audit happen?")
    expect(answer.locator(".answer-body")).to_contain_text("zebra audit")
    cite = answer.locator("button.cite").first
    cite.click()
    preview = app.locator("#preview")
    expect(preview.locator(".source-file")).to_have_text(HOSTILE_NAME)
    expect(preview.locator(".passage")).to_contain_text("onerror")  # shown as text
    app.click("#preview-close")

    app.click("#settings-toggle")
    app.select_option("#set-model", "hostile")
    app.click("#settings-save")
    expect(app.locator("#settings-status")).to_have_text("Saved.")
    app.click("#settings-toggle")
    reply = ask(app, "Who performs the zebra audit?")
    expect(reply.locator(".answer-body")).to_contain_text("board of directors")
    expect(reply.locator(".unsupported").filter(has_text="astronauts")).to_have_count(1)
    expect(reply.locator(".unsupported-flag").first).to_be_visible()
    shoot(app, "unsupported-and-hostile.png")

    app.click("#nav-documents")
    expect(app.locator("#document-rows").get_by_text(HOSTILE_NAME)).to_be_visible()
    app.wait_for_timeout(300)  # give any injected handler the chance to run
    injected = app.evaluate(
        """document.querySelectorAll(
             'script:not([src]), [onerror], [onload], a[href^="javascript:"], #messages img'
           ).length"""
    )
    assert injected == 0


@pytest.mark.usefixtures("library")
def test_each_marker_shows_its_own_sentence_and_label(app: Page) -> None:
    app.click("#settings-toggle")
    app.select_option("#set-model", "repeats")
    app.click("#settings-save")
    expect(app.locator("#settings-status")).to_contain_text("Saved")
    app.click("#settings-toggle")
    reply = ask(app, "Who performs the zebra audit?")
    body = reply.locator(".answer-body")
    expect(body.locator(".unsupported-flag")).to_have_count(2)
    # One label on each copy of the repeated sentence, not both on one.
    text = body.inner_text()
    flags = [m.start() for m in re.finditer(re.escape("(not supported by its source)"), text)]
    board = text.index("board of directors")
    assert flags[0] < board < flags[1], text
    # Each [1] opens the span of its own sentence.
    cites = body.locator("button.cite")
    expect(cites).to_have_count(4)
    for index, said in ((0, "every March"), (2, "board of directors")):
        cites.nth(index).click()
        expect(app.locator("#preview mark.cited-span")).to_contain_text(said)
        app.click("#preview-close")


@pytest.mark.usefixtures("library")
def test_reindex_a_document_shows_its_progress(app: Page, app_server: httpx.Client) -> None:
    app.click("#nav-documents")
    row = app.locator("#document-rows > tr").filter(has_text=DOCX_NAME)
    expect(row.locator("td").nth(1)).to_have_text("Indexed")
    expect(row.locator("td").nth(3)).to_have_text(re.compile(r"^[1-9][0-9]*$"))  # chunks

    # Hold the task's status polls, so the row is seen while the re-index runs.
    held: list[Route] = []
    holding = [True]

    def hold(route: Route) -> None:
        if holding[0]:
            held.append(route)
        else:
            route.continue_()

    app.route("**/api/tasks/*", hold)
    row.get_by_role("button", name=f"Re-index {DOCX_NAME}").click()
    expect(row.locator(".status-reindexing progress")).to_be_visible()
    expect(row.locator(".reindex-status")).to_have_text(re.compile("Re-indexing"))
    expect(row.get_by_role("button", name=f"Re-index {DOCX_NAME}")).to_be_disabled()
    holding[0] = False
    for route in held:
        route.continue_()

    expect(row.locator("td").nth(1)).to_have_text("Indexed")
    expect(row.get_by_role("button", name=f"Re-index {DOCX_NAME}")).to_be_enabled()
    tasks = app_server.get("/api/tasks").json()["items"]
    assert [t["status"] for t in tasks if t["kind"] == "reindex"] == ["succeeded"]
