// The documents view: upload (picker, folder, drag and drop) with a progress bar per file,
// indexing progress from each upload's task, and the library with status, pages, chunks, delete
// and re-index (with the task's progress in the document's row).  With accounts on, the
// collections too: yours with a "Share…" button, and others' shared with you, read-only (their
// documents have no delete or re-index).
import { accountsOn } from "./account.js";
import { api, enc, uploadFiles, watchTask } from "./api.js";
import { $, append, clear, formatBytes, formatDate, h, toast } from "./dom.js";
import { openShare } from "./shares.js";
import { loadLibrary, on, state } from "./state.js";

/** Uploads at once: each file is its own request, so each gets its own progress and task. */
const PARALLEL = 3;
const queue = [];
let running = 0;

function collectionName() {
  return $("#upload-collection").value.trim() || "default";
}

/** Queue ``files`` ([{file, name}], name being the relative path) for upload. */
function enqueue(files) {
  const collection = collectionName();
  for (const entry of files) {
    const row = uploadRow(entry.name, entry.file.size);
    $("#upload-list").prepend(row.el);
    queue.push({ ...entry, collection, row });
  }
  pump();
}

function pump() {
  while (running < PARALLEL && queue.length) {
    const job = queue.shift();
    running += 1;
    runUpload(job).finally(() => {
      running -= 1;
      pump();
    });
  }
}

function uploadRow(name, size) {
  const bar = h("progress", { max: "100", value: "0", "aria-label": `Progress of ${name}` });
  const status = h("span", { class: "upload-status" }, "Waiting…");
  const reason = h("p", { class: "upload-error", hidden: true });
  const el = h("li", { class: "upload-item" },
    h("div", { class: "upload-line" },
      h("span", { class: "upload-name" }, name), h("span", { class: "hint" }, formatBytes(size))),
    bar, status, reason);
  return {
    el,
    set(text, value, kind) {
      status.textContent = text;
      if (value == null) bar.removeAttribute("value");
      else bar.value = value;
      el.dataset.state = kind || "active";
    },
    fail(message) {
      reason.hidden = false;
      reason.textContent = message;
      el.dataset.state = "failed";
      status.textContent = "Failed";
      bar.value = 100;
    },
  };
}

async function runUpload({ file, name, collection, row }) {
  row.set("Uploading…", 0, "uploading");
  let accepted;
  try {
    accepted = await uploadFiles([{ file, name }], collection, (loaded, total) => {
      row.set(`Uploading… ${Math.round((loaded / total) * 100)} %`, (loaded / total) * 50, "uploading");
    });
  } catch (err) {
    row.fail(err.message);
    return;
  }
  row.set("Indexing…", 50, "indexing");
  let task;
  try {
    task = await watchTask(accepted.task_id, (t) => {
      const share = t.total ? t.processed / t.total : 0;
      const what = t.current === "embedding" ? "Embedding passages" : "Indexing";
      const count = t.total ? ` ${t.processed} of ${t.total}` : "";
      row.set(`${what}…${count}`, 50 + share * 50, "indexing");
    });
  } catch (err) {
    row.fail(err.message);
    return;
  }
  const errors = Array.isArray(task.errors) ? task.errors : [];
  // Replacing a document of the same name is never silent: the row says so.
  const replaced = Array.isArray(accepted.replaced) && accepted.replaced.length > 0;
  const unchanged = task.result && task.result.unchanged > 0;
  if (task.status === "succeeded" && !errors.length) {
    if (unchanged) row.set("Unchanged: the same file is already indexed", 100, "done");
    else if (replaced) row.set("Replaced the document of the same name", 100, "done");
    else row.set("Indexed", 100, "done");
  } else if (errors.length) {
    row.fail(errors.map((e) => (e && e.reason) ? `${e.file ? `${e.file}: ` : ""}${e.reason}` : String(e)).join("; "));
  } else row.fail(`Indexing ${task.status}`);
  refreshLibrary();
}

// ---------------------------------------------------------------- drag and drop of folders

function readEntries(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, name: entry.fullPath.replace(/^\//, "") });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await readEntries(reader);
      if (!batch.length) break;
      for (const child of batch) await walk(child, out);
    }
  }
}

async function dropped(e) {
  e.preventDefault();
  $("#drop-zone").classList.remove("dragging");
  const items = [...(e.dataTransfer.items || [])];
  const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  const files = [];
  if (entries.length && entries.every(Boolean)) {
    for (const entry of entries) await walk(entry, files);
  } else {
    for (const file of e.dataTransfer.files) files.push({ file, name: file.name });
  }
  if (files.length) enqueue(files);
}

// ---------------------------------------------------------------- the library

/** Re-indexes under way, by document id: {text, value}.  Kept here, not in the row, because the
 * library is drawn again whenever it reloads (another upload finishing, say). */
const reindexing = new Map();

function statusCell(doc) {
  const running = reindexing.get(doc.id);
  if (running) {
    const bar = h("progress", { max: "100", "aria-label": `Re-index progress of ${doc.file_name}` });
    if (running.value != null) bar.value = running.value;
    return h("td", { class: "status status-reindexing" },
      h("span", { class: "reindex-status" }, running.text), bar);
  }
  const label = { indexed: "Indexed", indexing: "Indexing…", failed: "Failed" }[doc.status] || doc.status;
  return h("td", { class: `status status-${doc.status}` }, label,
    doc.error ? h("span", { class: "doc-error" }, doc.error) : null);
}

/** Show a running re-index's state in the document's row, if the row is on screen. */
function showReindex(id, text, value) {
  reindexing.set(id, { text, value });
  const row = [...$("#document-rows").children].find((tr) => tr.dataset.id === id);
  if (!row) return; // filtered out: drawn as it is when it shows again
  const cell = row.querySelector(".status-reindexing");
  if (!cell) {
    renderLibrary(); // the first update: the row gets its bar and a disabled button
    return;
  }
  cell.querySelector(".reindex-status").textContent = text;
  const bar = cell.querySelector("progress");
  if (value == null) bar.removeAttribute("value");
  else bar.value = value;
}

async function reindexDocument(doc) {
  showReindex(doc.id, "Re-indexing…", null);
  let task;
  try {
    const accepted = await api("POST", `/api/documents/${enc(doc.id)}/reindex`);
    task = await watchTask(accepted.task_id, (t) => {
      if (t.current === "embedding") {
        const count = t.total ? ` ${t.processed} of ${t.total}` : "";
        showReindex(doc.id, `Embedding passages…${count}`, t.total ? (t.processed / t.total) * 100 : null);
      } else showReindex(doc.id, "Re-indexing…", null);
    });
  } catch (err) {
    toast(err.message);
  }
  if (task && task.status !== "succeeded") {
    const first = Array.isArray(task.errors) && task.errors[0];
    toast(`Re-indexing ${doc.file_name} ${task.status}${first && first.message ? `: ${first.message}` : ""}`);
  }
  reindexing.delete(doc.id);
  await refreshLibrary();
}

async function removeDocument(doc) {
  if (!confirm(`Delete “${doc.file_name}” from ${doc.collection}? Chats keep their text.`)) return;
  try {
    await api("DELETE", `/api/documents/${enc(doc.id)}`);
  } catch (err) {
    toast(err.message);
    return;
  }
  refreshLibrary();
}

/** The collection ``doc`` is in, by id: two may share a name (yours and one shared with you). */
function collectionOf(doc) {
  return state.collections.find((c) => c.id === doc.collection_id);
}

/** Another user's document, shared with you: you may read it, not delete or re-index it. */
function readOnly(doc) {
  const collection = collectionOf(doc);
  return Boolean(collection) && !collection.owned;
}

function documentActions(doc) {
  if (readOnly(doc)) {
    return h("span", { class: "badge badge-readonly" }, "Read-only");
  }
  return h("div", { class: "doc-actions" },
    h("button", {
      type: "button", class: "small", "aria-label": `Re-index ${doc.file_name}`,
      disabled: reindexing.has(doc.id),
      onclick: () => reindexDocument(doc),
    }, "Re-index"),
    h("button", {
      type: "button", class: "danger small", "aria-label": `Delete ${doc.file_name}`,
      onclick: () => removeDocument(doc),
    }, "Delete"));
}

function collectionBadge(collection) {
  if (!collection.owned) {
    return h("span", { class: "badge badge-readonly" }, "Shared with you (read-only)");
  }
  return collection.shared ? h("span", { class: "badge badge-shared" }, "Shared") : null;
}

function collectionItem(collection) {
  const count = collection.documents === 1 ? "1 document" : `${collection.documents} documents`;
  return h("li", { class: "collection-item", dataset: { id: collection.id } },
    h("span", { class: "collection-name" }, collection.name),
    h("span", { class: "hint" }, count),
    collectionBadge(collection),
    collection.owned ? h("button", {
      type: "button", class: "small collection-share", dataset: { share: collection.name },
      "aria-haspopup": "dialog", "aria-label": `Share ${collection.name}…`,
      onclick: () => openShare(collection.name, refreshLibrary),
    }, "Share…") : null);
}

function renderCollections() {
  const list = $("#collection-list");
  if (!list) return; // accounts off
  append(clear(list), state.collections.map(collectionItem));
  $("#collections-section").hidden = state.collections.length === 0;
}

function renderLibrary() {
  renderCollections();
  const filter = $("#library-collection").value;
  const rows = $("#document-rows");
  clear(rows);
  const docs = state.documents.filter((d) => !filter || d.collection_id === filter);
  for (const doc of docs) {
    rows.append(h("tr", { dataset: { id: doc.id } },
      h("th", { scope: "row", class: "doc-name" },
        h("a", { href: `/api/documents/${enc(doc.id)}/file`, download: "" }, doc.file_name),
        h("span", { class: "hint" }, ` ${formatDate(doc.indexed_at || doc.created_at)}`)),
      h("td", {}, doc.collection),
      statusCell(doc),
      h("td", { class: "num" }, doc.page_count ?? ""),
      h("td", { class: "num" }, doc.chunk_count ?? ""),
      h("td", { class: "num" }, formatBytes(doc.size)),
      h("td", {}, documentActions(doc))));
  }
  $("#no-documents").hidden = docs.length > 0;

  // The filter goes by id: a collection shared with you may carry the name of one of yours.
  const select = $("#library-collection");
  // dom.js's append, which flattens the list (the DOM's own would write it out as text).
  append(clear(select), h("option", { value: "" }, "All"),
    state.collections.map((c) => h("option", { value: c.id },
      c.owned ? c.name : `${c.name} (shared with you)`)));
  select.value = state.collections.some((c) => c.id === filter) ? filter : "";
  // Uploads go into a collection of yours: others' names are no suggestion.
  append(clear($("#collection-names")), state.collections.filter((c) => c.owned)
    .map((c) => h("option", { value: c.name })));
}

export async function refreshLibrary() {
  try {
    await loadLibrary();
  } catch (err) {
    toast(err.message);
  }
}

export function initDocuments() {
  if (!accountsOn()) $("#collections-section").remove();
  const picker = $("#file-input");
  picker.addEventListener("change", () => {
    enqueue([...picker.files].map((file) => ({ file, name: file.name })));
    picker.value = "";
  });
  const folder = $("#folder-input");
  folder.addEventListener("change", () => {
    enqueue([...folder.files].map((file) => ({ file, name: file.webkitRelativePath || file.name })));
    folder.value = "";
  });
  const zone = $("#drop-zone");
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    dropped(e).catch((err) => toast(err.message));
  });
  $("#library-collection").addEventListener("change", renderLibrary);
  on("library", renderLibrary);
}
