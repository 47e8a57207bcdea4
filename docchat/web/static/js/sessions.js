// The sidebar: chats, most recently used first; new, rename, delete; search across all chats.
import { api, enc, get } from "./api.js";
import { $, clear, formatDate, h, markedSnippet, toast } from "./dom.js";
import { openSession, showHead } from "./chat.js";
import { on, state } from "./state.js";

let cursor = null;
let searchTimer = 0;
let searchTicket = 0;

export async function refreshSessions() {
  const page = await get("/api/sessions?limit=50");
  cursor = page.next_cursor;
  const list = $("#session-list");
  clear(list);
  for (const s of page.items) list.append(sessionItem(s));
  $("#more-sessions").hidden = !cursor;
  markCurrent();
}

async function moreSessions() {
  if (!cursor) return;
  const page = await get(`/api/sessions?limit=50&cursor=${enc(cursor)}`);
  cursor = page.next_cursor;
  for (const s of page.items) $("#session-list").append(sessionItem(s));
  $("#more-sessions").hidden = !cursor;
  markCurrent();
}

function sessionItem(s) {
  return h("li", { dataset: { id: s.id } },
    h("a", { href: `#/chat/${enc(s.id)}`, class: "session-link" },
      h("span", { class: "session-title" }, s.title || "Untitled chat"),
      h("span", { class: "session-date" }, formatDate(s.updated_at))));
}

function markCurrent() {
  const id = state.session && state.session.id;
  for (const li of $("#session-list").children) {
    const link = li.querySelector("a");
    if (li.dataset.id === id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function search(q) {
  const ticket = ++searchTicket;
  const box = $("#search-results");
  if (!q.trim()) {
    box.hidden = true;
    clear(box);
    return;
  }
  let hits;
  try {
    hits = (await get(`/api/search/messages?q=${enc(q)}&limit=30`)).items;
  } catch (err) {
    if (ticket === searchTicket) toast(err.message);
    return;
  }
  if (ticket !== searchTicket) return;
  clear(box);
  box.hidden = false;
  box.append(h("h2", { class: "sidebar-heading" },
    hits.length ? `${hits.length} message${hits.length === 1 ? "" : "s"} found` : "Nothing found"));
  box.append(h("ul", { class: "hit-list" }, hits.map((hit) => h("li", {},
    h("a", {
      href: `#/chat/${enc(hit.message.session_id)}?m=${hit.message.id}`,
      class: "hit-link",
    },
    h("span", { class: "session-title" }, hit.session_title || "Untitled chat"),
    h("span", { class: "hit-snippet" }, markedSnippet(hit.snippet)))))));
}

async function rename(e) {
  e.preventDefault();
  const title = $("#rename-input").value.trim();
  if (!title || !state.session) return;
  try {
    state.session = await api("PATCH", `/api/sessions/${enc(state.session.id)}`, { title });
  } catch (err) {
    toast(err.message);
    return;
  }
  showHead();
  $("#rename-chat").focus();
  refreshSessions();
}

async function remove() {
  const session = state.session;
  if (!session) return;
  if (!confirm(`Delete the chat “${session.title || "Untitled chat"}” and all its messages?`)) return;
  try {
    await api("DELETE", `/api/sessions/${enc(session.id)}`);
  } catch (err) {
    toast(err.message);
    return;
  }
  location.hash = "#/";
  refreshSessions();
}

export function initSessions() {
  $("#new-chat").addEventListener("click", () => {
    if (location.hash === "#/" || location.hash === "") openSession(null);
    else location.hash = "#/";
    $("#composer-input").focus();
  });
  $("#more-sessions").addEventListener("click", moreSessions);
  $("#chat-search").addEventListener("submit", (e) => {
    e.preventDefault();
    search($("#chat-search-input").value);
  });
  $("#chat-search-input").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(e.target.value), 250);
  });
  $("#rename-chat").addEventListener("click", () => {
    $("#rename-input").value = state.session ? state.session.title : "";
    $("#chat-title").hidden = true;
    $("#rename-form").hidden = false;
    $("#rename-input").focus();
    $("#rename-input").select();
  });
  $("#rename-cancel").addEventListener("click", () => {
    showHead();
    $("#rename-chat").focus();
  });
  $("#rename-input").addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      showHead();
      $("#rename-chat").focus();
    }
  });
  $("#rename-form").addEventListener("submit", rename);
  $("#delete-chat").addEventListener("click", remove);
  on("session", markCurrent);
  on("sessions-changed", () => refreshSessions().catch(() => {}));
}
