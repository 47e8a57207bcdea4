// What the views share: the open session, the known models, collections and documents.
import { get } from "./api.js";

export const state = {
  /** The open session (as the API returns it), or null for a new chat not yet sent. */
  session: null,
  /** Settings of a new chat before its first question creates the session. */
  draftSettings: { mode: "basic", model: null, options: {} },
  models: [],
  collections: [],
  documents: [],
  /** The running answer's AbortController, if one streams. */
  streaming: null,
};

const listeners = new Map();

export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(fn);
}

export function emit(event, detail) {
  for (const fn of listeners.get(event) || []) fn(detail);
}

/** The settings in force for the open chat (or the draft). */
export function currentSettings() {
  return state.session ? state.session.settings : state.draftSettings;
}

export async function loadLibrary() {
  const [collections, documents] = await Promise.all([
    get("/api/collections"),
    get("/api/documents?limit=1000"),
  ]);
  state.collections = collections.items;
  state.documents = documents.items;
  emit("library", null);
}

export async function loadModels() {
  state.models = (await get("/api/models")).items;
  emit("models", null);
}
