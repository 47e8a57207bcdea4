// Start-up and the page's routes: #/ (a new chat), #/chat/<id>[?m=<message id>], #/documents,
// and with accounts on #/tokens and, for admins, #/users.
import { accountsOn, initAccount } from "./account.js";
import { loadMe } from "./api.js";
import { initChat, openSession } from "./chat.js";
import { $, toast } from "./dom.js";
import { initDocuments, refreshLibrary } from "./documents.js";
import { closePreview, initPreview } from "./preview.js";
import { initSessions, refreshSessions } from "./sessions.js";
import { initSettings } from "./settings.js";
import { initShares } from "./shares.js";
import { loadModels, loadModes, state } from "./state.js";
import { initTokens, leaveTokens, refreshTokens } from "./tokens.js";
import { initUsers, isAdmin, leaveUsers, refreshUsers } from "./users.js";

function setSidebar(open) {
  document.body.classList.toggle("sidebar-open", open);
  $("#sidebar-toggle").setAttribute("aria-expanded", String(open));
}

const VIEWS = [
  ["#chat-view", "#nav-chat"],
  ["#documents-view", "#nav-documents"],
  ["#tokens-view", "#nav-tokens"],
  ["#users-view", "#nav-users"],
];

function show(view) {
  for (const [id, link] of VIEWS) {
    if ($(id)) $(id).hidden = id !== view;
    if (!$(link)) continue;
    if (id === view) $(link).setAttribute("aria-current", "page");
    else $(link).removeAttribute("aria-current");
  }
}

async function route() {
  const hash = location.hash || "#/";
  setSidebar(false);
  closePreview();
  // With accounts off the tokens view does not exist: #/tokens is then just the chat.
  if (hash.startsWith("#/tokens") && accountsOn()) {
    show("#tokens-view");
    await refreshTokens();
    return;
  }
  leaveTokens();
  // Likewise the users view, for admins only (the server refuses others 403 in any case).
  if (hash.startsWith("#/users") && accountsOn() && isAdmin()) {
    show("#users-view");
    await refreshUsers();
    return;
  }
  leaveUsers();
  if (hash.startsWith("#/documents")) {
    show("#documents-view");
    await refreshLibrary();
    return;
  }
  show("#chat-view");
  const match = hash.match(/^#\/chat\/([^?]+)(?:\?m=(\d+))?/);
  const id = match ? decodeURIComponent(match[1]) : null;
  if (id && state.session && state.session.id === id && !match[2]) return;
  await openSession(id, { scrollTo: match && match[2] });
}

async function start() {
  // Who is signed in comes first: every change needs the CSRF token it brings, and a signed-out
  // browser is sent to the login page before anything else asks.
  try {
    await loadMe();
  } catch (err) {
    if (err.status === 401) return; // signed out: api.js is taking the browser to /login
    toast(err.message);
  }
  initAccount();
  initTokens(accountsOn());
  initUsers(accountsOn() && isAdmin());
  initShares(accountsOn());
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
