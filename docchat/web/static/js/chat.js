// The chat pane: messages, the streamed answer, citations, the composer.
import { api, ApiError, enc, get, streamChat } from "./api.js";
import { $, append, clear, h, toast } from "./dom.js";
import { findText, renderMarkdown, wrapRange } from "./markdown.js";
import { openPreview } from "./preview.js";
import { currentSettings, emit, modeInfo, on, state } from "./state.js";

// A mode's label and whether it runs long come from GET /api/modes (state.modes).
const modeLabel = (name) => (modeInfo(name) || {}).label || name;
const PAGE = 200;
const MAX_POSITION = Number.MAX_SAFE_INTEGER;
const TITLE_CHARS = 80;

const messagesEl = () => $("#messages");

// ---------------------------------------------------------------- opening a chat

/** Show the session ``id`` (or a new, empty chat when null). */
export async function openSession(id, { scrollTo } = {}) {
  stopStreaming();
  clear(messagesEl());
  setStatus("");
  if (!id) {
    state.session = null;
    state.draftSettings = { mode: "basic", model: null, options: {} };
    showHead();
    emit("session", null);
    return;
  }
  try {
    state.session = await get(`/api/sessions/${enc(id)}`);
  } catch (err) {
    state.session = null;
    showHead();
    emit("session", null);
    toast(err instanceof ApiError && err.status === 404 ? "That chat no longer exists." : err.message);
    return;
  }
  showHead();
  emit("session", state.session);
  await loadMessages({ before: MAX_POSITION });
  if (scrollTo) {
    const target = document.getElementById(`msg-${scrollTo}`);
    if (target) {
      target.classList.add("found");
      target.scrollIntoView({ block: "center" });
    }
  } else {
    scrollToEnd();
  }
}

async function loadMessages({ before }) {
  const session = state.session;
  const page = await get(
    `/api/sessions/${enc(session.id)}/messages?limit=${PAGE}&before=${before}`);
  if (state.session !== session) return;
  const items = page.items;
  const list = messagesEl();
  const first = list.firstElementChild;
  const fragment = document.createDocumentFragment();
  if (items.length === PAGE) {
    const older = h("li", { class: "load-older" },
      h("button", {
        type: "button", class: "link-button",
        onclick: () => { older.remove(); loadMessages({ before: items[0].position }); },
      }, "Show earlier messages"));
    fragment.append(older);
  }
  for (const message of items) fragment.append(renderMessage(message));
  list.insertBefore(fragment, first && first.classList.contains("load-older") ? first.nextSibling : first);
  $("#empty-chat").hidden = list.children.length > 0;
}

export function showHead() {
  const session = state.session;
  $("#chat-title").textContent = session ? (session.title || "Untitled chat") : "New chat";
  $("#chat-actions").hidden = false;
  for (const id of ["#rename-chat", "#delete-chat", "#export-menu"]) $(id).hidden = !session;
  $("#rename-form").hidden = true;
  $("#chat-title").hidden = false;
  $("#empty-chat").hidden = messagesEl().children.length > 0;
  if (session) {
    for (const format of ["markdown", "json", "docx", "pdf"]) {
      $(`#export-${format}`).href =
        `/api/sessions/${enc(session.id)}/export?format=${format}`;
    }
  }
  document.title = session ? `${session.title || "Untitled chat"} · docchat` : "docchat";
}

function scrollToEnd() {
  const list = messagesEl();
  list.lastElementChild?.scrollIntoView({ block: "end" });
}

// ---------------------------------------------------------------- rendering messages

function renderMessage(message) {
  if (message.role === "assistant") {
    return renderAnswer({
      id: message.id,
      text: message.content,
      references: message.references || [],
      metadata: message.metadata || {},
    });
  }
  const meta = message.metadata || {};
  return h("li", { class: `message ${message.role === "user" ? "user" : "other"}`, id: `msg-${message.id}` },
    h("div", { class: "who" }, message.role === "user" ? "You" : message.role),
    h("div", { class: "user-text" }, message.content),
    meta.mode ? h("div", { class: "meta-line" }, modeLabel(meta.mode)) : null);
}

/** An assistant message: Markdown body, marks, citations, sources, details. */
function renderAnswer({ id, text, references, metadata }) {
  const abstained = Boolean(metadata.abstained);
  const stopped = Boolean(metadata.cancelled);
  const failed = Boolean(metadata.error);
  // Stored as it streamed: cut off by a server that stopped, or still being written elsewhere.
  const interrupted = metadata.status === "interrupted";
  const writing = metadata.status === "streaming";
  const classes = ["message", "assistant"];
  if (abstained) classes.push("abstained");
  if (stopped || failed || interrupted || writing) classes.push("partial");
  const li = h("li", { class: classes.join(" "), id: id ? `msg-${id}` : undefined });
  li.append(h("div", { class: "who" }, abstained ? "No answer found in your documents" : "Answer"));
  const body = h("div", { class: "answer-body markdown" });
  fillAnswerBody(body, text, references, metadata);
  li.append(body);
  if (stopped) li.append(h("p", { class: "flag" }, "Stopped before the answer was finished."));
  if (interrupted) {
    li.append(h("p", { class: "flag" }, "Interrupted: the server stopped before the answer was finished."));
  }
  if (writing) li.append(h("p", { class: "flag" }, "Still being written; reload to see more."));
  if (failed) {
    li.append(h("p", { class: "flag error" },
      `The answer failed: ${metadata.error.message || metadata.error.code}`));
  }
  if (references.length) li.append(renderSources(references));
  if (abstained && Array.isArray(metadata.closest) && metadata.closest.length) {
    li.append(renderClosest(metadata.closest));
  }
  li.append(renderDetails(metadata));
  return li;
}

function fillAnswerBody(body, text, references, metadata) {
  clear(body);
  // An abstention lists its closest passages itself: they are shown below, as passages.
  const shown = metadata.abstained && Array.isArray(metadata.closest)
    ? text.split("\nThe closest passages")[0]
    : text;
  body.append(renderMarkdown(shown));
  markUnsupported(body, metadata.sentences);
  linkMarkers(body, references, metadata.marker_spans);
}

/** Sentences the citation check found unsupported get a visible mark. */
function markUnsupported(body, sentences) {
  if (!Array.isArray(sentences)) return;
  let marked = 0;
  // Sentences are found in answer order, each after the one before: a repeated sentence's
  // label goes on its own copy.  Wrapped last to first, so the flags added after a sentence
  // leave the places found before it where they were.
  const ranges = [];
  let cursor = 0;
  for (const sentence of sentences) {
    if (!sentence || !sentence.text) continue;
    if (sentence.supported === false) marked += 1;
    const found = findText(body, sentence.text, cursor);
    if (!found) continue;  // rendered differently (a link, say): still counted in the note
    cursor = found[1];
    if (sentence.supported === false) ranges.push(found);
  }
  for (const found of ranges.reverse()) {
    const pieces = [];
    wrapRange(body, found[0], found[1], () => {
      const span = h("span", { class: "unsupported", title: "Not supported by the passage it cites" });
      pieces.push(span);
      return span;
    });
    const last = pieces[pieces.length - 1];
    if (last) {
      last.after(h("span", { class: "unsupported-flag" }, " (not supported by its source)"));
    }
  }
  if (marked) {
    body.append(h("p", { class: "unsupported-note" },
      `${marked === 1 ? "One sentence is" : `${marked} sentences are`} not supported by the passages: ` +
      "check before relying on it."));
  }
}

/** Each [n] with a reference becomes a button that opens the source preview, showing the span
 *  of its own sentence (``spans``: one per marker, in text order) where the answer says it. */
function linkMarkers(body, references, spans) {
  const byN = new Map(references.map((r) => [Number(r.n), r]));
  const queued = new Map();
  for (const span of Array.isArray(spans) ? spans : []) {
    if (!queued.has(Number(span.n))) queued.set(Number(span.n), []);
    queued.get(Number(span.n)).push(span);
  }
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (/\[\d+\]/.test(n.data) && !n.parentElement.closest("code, pre, a")) nodes.push(n);
  }
  for (const node of nodes) {
    const parts = [];
    let last = 0;
    for (const m of node.data.matchAll(/\[(\d+)\]/g)) {
      const ref = byN.get(Number(m[1]));
      if (!ref) continue;
      const own = (queued.get(Number(m[1])) || []).shift();
      const shown = own && own.span_start != null
        ? { ...ref, span_start: own.span_start, span_end: own.span_end, quote: own.quote ?? ref.quote }
        : ref;
      parts.push(node.data.slice(last, m.index), citeButton(shown));
      last = m.index + m[0].length;
    }
    if (!parts.length) continue;
    parts.push(node.data.slice(last));
    const fragment = document.createDocumentFragment();
    append(fragment, ...parts);
    node.replaceWith(fragment);
  }
}

function refLabel(ref) {
  if (ref.kind === "web") return ref.title || ref.url || "web page";
  const parts = [ref.file_name || "document"];
  if (ref.page) parts.push(`page ${ref.page}`);
  if (ref.section) parts.push(ref.section);
  return parts.join(", ");
}

function citeButton(ref) {
  return h("button", {
    type: "button", class: "cite", "aria-label": `Source ${ref.n}: ${refLabel(ref)}`,
    title: refLabel(ref), dataset: { n: String(ref.n) },
    onclick: () => openPreview(ref),
  }, `[${ref.n}]`);
}

function renderSources(references) {
  return h("div", { class: "sources" },
    h("h3", {}, "Sources"),
    h("ol", {}, references.map((ref) => h("li", {},
      h("button", { type: "button", class: "source", onclick: () => openPreview(ref) },
        h("span", { class: "source-n" }, `[${ref.n}]`), " ", refLabel(ref)),
      ref.quote ? h("q", { class: "quote" }, ref.quote) : null))));
}

function renderClosest(closest) {
  return h("div", { class: "closest" },
    h("h3", {}, "Closest passages (not cited: they do not answer the question)"),
    h("ul", {}, closest.map((c) => h("li", {},
      h("button", {
        type: "button", class: "source",
        onclick: () => openPreview({ ...c, span_start: c.char_start, span_end: c.char_end }),
      }, [c.file_name || "document", c.page ? `, page ${c.page}` : "", c.section ? `, ${c.section}` : ""].join("")),
      c.snippet ? h("span", { class: "snippet" }, " ", c.snippet) : null))));
}

function renderDetails(metadata) {
  const rows = [];
  const add = (label, value) => {
    if (value === undefined || value === null || value === "") return;
    rows.push(h("dt", {}, label), h("dd", {}, value));
  };
  add("Model", metadata.model);
  add("Mode", metadata.mode && modeLabel(metadata.mode));
  add("Answered by", metadata.answerer);
  // A follow-up as it was understood: a question the user can read, searched with theirs.
  add("Read as", metadata.rewritten_query);
  if (Array.isArray(metadata.queries) && metadata.queries.length) {
    add("Searched for", metadata.queries.join(" · "));
  }
  if (metadata.timings_ms && metadata.timings_ms.total != null) {
    add("Time", `${Math.round(metadata.timings_ms.total)} ms`);
  }
  if (metadata.usage && metadata.usage.model_calls) {
    add("Model calls", `${metadata.usage.model_calls} (${metadata.usage.prompt_tokens} prompt + ` +
      `${metadata.usage.completion_tokens} completion tokens)`);
  }
  if (metadata.options) {
    rows.push(h("dt", {}, "Settings"),
      h("dd", {}, h("pre", { class: "settings-json" }, JSON.stringify(metadata.options, null, 2))));
  }
  if (!rows.length) return document.createDocumentFragment();
  return h("details", { class: "answer-details" }, h("summary", {}, "Details"), h("dl", {}, rows));
}

// ---------------------------------------------------------------- asking

export function setStatus(text) {
  $("#status-line").textContent = text;
}

function setBusy(busy) {
  $("#send").hidden = busy;
  $("#stop").hidden = !busy;
  $("#composer-input").setAttribute("aria-busy", busy ? "true" : "false");
}

export function stopStreaming() {
  if (state.streaming) {
    state.streaming.abort();
    state.streaming = null;
  }
}

async function ensureSession(question) {
  if (state.session) return state.session;
  const draft = state.draftSettings;
  const settings = { mode: draft.mode || "basic", options: draft.options || {} };
  if (draft.model) settings.model = draft.model;
  state.session = await api("POST", "/api/sessions", {
    title: question.replace(/\s+/g, " ").trim().slice(0, TITLE_CHARS),
    settings,
  });
  history.replaceState(null, "", `#/chat/${state.session.id}`);
  showHead();
  emit("session", state.session);
  return state.session;
}

async function ask(question) {
  let session;
  try {
    session = await ensureSession(question);
  } catch (err) {
    toast(err.message);
    return;
  }
  if (!session.title) {
    // A session made elsewhere without a title is named after its first question.
    try {
      session = state.session = await api("PATCH", `/api/sessions/${enc(session.id)}`,
        { title: question.replace(/\s+/g, " ").trim().slice(0, TITLE_CHARS) });
      showHead();
    } catch { /* the title is a nicety */ }
  }
  const list = messagesEl();
  $("#empty-chat").hidden = true;
  const mine = h("li", { class: "message user pending" },
    h("div", { class: "who" }, "You"), h("div", { class: "user-text" }, question));
  list.append(mine);
  const live = h("li", { class: "message assistant streaming", "aria-busy": "true" },
    h("div", { class: "who" }, "Answer"));
  const body = h("div", { class: "answer-body markdown" });
  live.append(body);
  list.append(live);
  live.scrollIntoView({ block: "end" });

  const mode = currentSettings().mode || "basic";
  const controller = new AbortController();
  state.streaming = controller;
  setBusy(true);
  const long = (modeInfo(mode) || {}).background;
  setStatus(long ? `${modeLabel(mode)}: starting…` : "Searching your documents…");
  let text = "";
  let frame = 0;
  let finished = false;
  const paint = () => {
    frame = 0;
    clear(body).append(renderMarkdown(text));
  };
  try {
    await streamChat(session.id, { question }, (type, data) => {
      if (type === "retrieval") {
        const n = (data.passages || []).length;
        setStatus(n ? `Found ${n} passage${n === 1 ? "" : "s"}; answering…` : "Answering…");
      } else if (type === "progress") {
        const count = data.total ? ` (${data.done ?? 0} of ${data.total})` : "";
        setStatus(`${data.status}${count}`);
      } else if (type === "token") {
        text += data.text;
        if (!frame) frame = requestAnimationFrame(paint);
      } else if (type === "done") {
        finished = true;
        if (frame) cancelAnimationFrame(frame);
        if (data.user_message_id) mine.id = `msg-${data.user_message_id}`;
        mine.classList.remove("pending");
        live.replaceWith(renderAnswer({
          id: data.assistant_message_id, text: data.answer,
          references: data.references || [], metadata: data.metadata || {},
        }));
        setStatus("");
      } else if (type === "error") {
        finished = true;
        if (frame) cancelAnimationFrame(frame);
        const answer = data.answer;
        const failed = renderAnswer({
          id: answer && answer.assistant_message_id,
          text: (answer && answer.answer) || text,
          references: (answer && answer.references) || [],
          metadata: { ...((answer && answer.metadata) || {}), error: { code: data.code, message: data.message } },
        });
        live.replaceWith(failed);
        setStatus("");
      }
    }, controller.signal);
    if (!finished) throw new ApiError(0, "incomplete", "the answer stopped unexpectedly");
  } catch (err) {
    if (frame) cancelAnimationFrame(frame);
    if (err.name === "AbortError") {
      live.classList.remove("streaming");
      live.classList.add("partial");
      live.removeAttribute("aria-busy");
      live.append(h("p", { class: "flag" }, "Stopped before the answer was finished."));
      setStatus("Stopped.");
    } else {
      live.remove();
      if (!mine.id) mine.classList.add("failed");
      setStatus("");
      toast(err.message);
    }
  } finally {
    if (state.streaming === controller) state.streaming = null;
    setBusy(false);
    emit("sessions-changed", null);
  }
}

export function stop() {
  if (state.streaming) {
    stopStreaming();
  }
}

/** A new install has nothing to search: the chat says where documents are added. */
function showLibraryHint() {
  const searchable = state.documents.some((d) => d.status !== "failed");
  $("#chat-no-documents").hidden = !state.libraryLoaded || searchable;
}

export function initChat() {
  on("library", showLibraryHint);
  const input = $("#composer-input");
  $("#composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = input.value.trim();
    if (!question || state.streaming) return;
    input.value = "";
    ask(question);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("#composer").requestSubmit();
    }
  });
  // A download leaves the page as it is: close the menu it came from.
  for (const link of document.querySelectorAll("#export-menu a")) {
    link.addEventListener("click", () => { $("#export-menu").open = false; });
  }
  $("#stop").addEventListener("click", () => {
    stop();
    input.focus();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (state.streaming) {
      e.preventDefault();
      stop();
    }
  });
}
