// A chat's settings: model, mode and options, saved with PUT …/settings (kept for a new chat
// until its first question creates the session with them).
import { api, enc } from "./api.js";
import { $, clear, h, toast } from "./dom.js";
import { currentSettings, on, state } from "./state.js";

// What the server uses when an option is unset (docchat/config.py ChatDefaults).
// The server's defaults. Reranking is stored only once it was set, so a server without a reranker
// keeps answering (its default then reranks nothing) instead of refusing an explicit request.
const DEFAULT_SWITCHES = { use_memory: true, enable_reranking: true, enable_web_search: false };

function fillModels() {
  const select = $("#set-model");
  const chosen = currentSettings().model || "";
  clear(select);
  const fallback = state.models.find((m) => m.default);
  select.append(h("option", { value: "" },
    `Default${fallback ? ` (${fallback.name})` : ""}`));
  for (const m of state.models) {
    const label = m.available ? m.name : `${m.name} (unavailable: ${m.unavailable_reason || "not ready"})`;
    select.append(h("option", { value: m.name, disabled: !m.available }, label));
  }
  if (chosen && !state.models.some((m) => m.name === chosen)) {
    select.append(h("option", { value: chosen }, `${chosen} (not configured)`));
  }
  select.value = chosen;
}

function fillModes() {
  const select = $("#set-mode");
  const chosen = currentSettings().mode || "basic";
  clear(select);
  for (const m of state.modes) {
    select.append(h("option", { value: m.name }, `${m.label}: ${m.description}`));
  }
  select.value = chosen;
}

function checklist(container, items, chosen, name) {
  clear(container);
  if (!items.length) {
    container.append(h("p", { class: "hint" }, "None yet."));
    return;
  }
  const picked = new Set(chosen || []);
  for (const item of items) {
    const id = `${name}-${item.value}`.replace(/[^A-Za-z0-9_-]/g, "_");
    container.append(h("label", { class: "check", for: id },
      h("input", { type: "checkbox", id, name, value: item.value, checked: picked.has(item.value) }),
      " ", item.label));
  }
  // A filter on something no longer listed stays in force until unticked.
  for (const value of picked) {
    if (!items.some((i) => i.value === value)) {
      container.append(h("label", { class: "check" },
        h("input", { type: "checkbox", name, value, checked: true }), " ", `${value} (missing)`));
    }
  }
}

function fillFilters() {
  const filters = currentSettings().options?.source_filters || {};
  checklist($("#set-collections"),
    state.collections.map((c) => ({ value: c.name, label: `${c.name} (${c.documents})` })),
    filters.collections, "collections");
  checklist($("#set-documents"),
    state.documents.map((d) => ({ value: d.id, label: `${d.file_name} · ${d.collection}` })),
    filters.documents, "documents");
}

export function fillSettings() {
  const settings = currentSettings();
  const options = settings.options || {};
  fillModels();
  fillModes();
  $("#set-num-results").value = options.num_results ?? "";
  $("#set-keywords").value = (options.manual_keywords || []).join(", ");
  $("#set-language").value = options.output_language || "";
  $("#set-instructions").value = options.custom_instructions || "";
  $("#set-memory").checked = options.use_memory ?? DEFAULT_SWITCHES.use_memory;
  $("#set-rerank").checked = options.enable_reranking ?? DEFAULT_SWITCHES.enable_reranking;
  $("#set-web").checked = options.enable_web_search ?? DEFAULT_SWITCHES.enable_web_search;
  fillFilters();
  $("#settings-status").textContent = "";
}

function readForm() {
  const previous = currentSettings().options || {};
  const ticked = (name) =>
    [...document.querySelectorAll(`#settings-panel input[name="${name}"]:checked`)].map((i) => i.value);
  const options = { ...previous };
  const number = $("#set-num-results").value.trim();
  const keywords = $("#set-keywords").value.split(",").map((k) => k.trim()).filter(Boolean);
  const setOrDrop = (key, value) => {
    if (value === null || value === "" || (Array.isArray(value) && !value.length)) delete options[key];
    else options[key] = value;
  };
  setOrDrop("num_results", number ? Number(number) : null);
  setOrDrop("manual_keywords", keywords);
  setOrDrop("output_language", $("#set-language").value.trim());
  setOrDrop("custom_instructions", $("#set-instructions").value.trim());
  options.use_memory = $("#set-memory").checked;
  const rerank = $("#set-rerank").checked;
  if (previous.enable_reranking != null || rerank !== DEFAULT_SWITCHES.enable_reranking) {
    options.enable_reranking = rerank;
  }
  options.enable_web_search = $("#set-web").checked;
  const filters = { ...(previous.source_filters || {}) };
  filters.collections = ticked("collections");
  filters.documents = ticked("documents");
  const anyFilter = Object.values(filters).some((v) => Array.isArray(v) && v.length);
  setOrDrop("source_filters", anyFilter ? filters : null);
  return {
    model: $("#set-model").value || null,
    mode: $("#set-mode").value,
    options,
  };
}

async function save(e) {
  e.preventDefault();
  const wanted = readForm();
  const status = $("#settings-status");
  if (!state.session) {
    state.draftSettings = wanted;
    status.textContent = "Saved: used from this chat's first question.";
    return;
  }
  try {
    state.session = await api("PUT", `/api/sessions/${enc(state.session.id)}/settings`, wanted);
  } catch (err) {
    status.textContent = "";
    toast(`Settings not saved: ${err.message}`);
    return;
  }
  fillSettings();
  status.textContent = "Saved.";
}

function toggle(open) {
  const panel = $("#settings-panel");
  const show = open ?? panel.hidden;
  panel.hidden = !show;
  $("#settings-toggle").setAttribute("aria-expanded", String(show));
  if (show) {
    fillSettings();
    $("#set-model").focus();
  }
}

export function initSettings() {
  $("#settings-toggle").addEventListener("click", () => toggle());
  $("#settings-panel").addEventListener("submit", save);
  on("session", () => { if (!$("#settings-panel").hidden) fillSettings(); });
  on("models", () => fillModels());
  on("modes", () => fillModes());
  on("library", () => { if (!$("#settings-panel").hidden) fillFilters(); });
}
