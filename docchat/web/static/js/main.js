// Start-up and the page's routes: #/ (a new chat), #/chat/<id>[?m=<message id>], #/documents.
import { initChat, openSession } from "./chat.js";
import { $, toast } from "./dom.js";
import { initDocuments, refreshLibrary } from "./documents.js";
import { closePreview, initPreview } from "./preview.js";
import { initSessions, refreshSessions } from "./sessions.js";
import { initSettings } from "./settings.js";
import { loadModels, loadModes, state } from "./state.js";

function setSidebar(open) {
  document.body.classList.toggle("sidebar-open", open);
  $("#sidebar-toggle").setAttribute("aria-expanded", String(open));
}

async function route() {
  const hash = location.hash || "#/";
  const documents = hash.startsWith("#/documents");
  $("#chat-view").hidden = documents;
  $("#documents-view").hidden = !documents;
  for (const [link, current] of [["#nav-chat", !documents], ["#nav-documents", documents]]) {
    if (current) $(link).setAttribute("aria-current", "page");
    else $(link).removeAttribute("aria-current");
  }
  setSidebar(false);
  closePreview();
  if (documents) {
    await refreshLibrary();
    return;
  }
  const match = hash.match(/^#\/chat\/([^?]+)(?:\?m=(\d+))?/);
  const id = match ? decodeURIComponent(match[1]) : null;
  if (id && state.session && state.session.id === id && !match[2]) return;
  await openSession(id, { scrollTo: match && match[2] });
}

function start() {
  initChat();
  initPreview();
  initSessions();
  initSettings();
  initDocuments();
  $("#sidebar-toggle").addEventListener("click", () =>
    setSidebar(!document.body.classList.contains("sidebar-open")));
  // On a narrow screen the sidebar covers the chat: following any of its links closes it.
  $("#sidebar").addEventListener("click", (e) => {
    if (e.target.closest("a")) setSidebar(false);
  });
  window.addEventListener("hashchange", () => route().catch((err) => toast(err.message)));
  Promise.all([refreshSessions(), loadModels(), loadModes(), refreshLibrary(), route()])
    .catch((err) => toast(err.message))
    .finally(() => document.body.classList.add("ready"));
}

start();
