// What the views share: the open session, the known models and modes, collections and documents.
import { get } from "./api.js";

export const state = {
  /** The open session (as the API returns it), or null for a new chat not yet sent. */
  session: null,
  /** Settings of a new chat before its first question creates the session. */
  draftSettings: { mode: "basic", model: null, options: {} },
  models: [],
  /** The chat modes, as GET /api/modes lists them (the server's registry). */
  modes: [],
  collections: [],
  documents: [],
  /** Whether ``documents`` holds the library yet (an empty list may just not be loaded). */
  libraryLoaded: false,
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
  state.libraryLoaded = true;
  emit("library", null);
}

export async function loadModels() {
  state.models = (await get("/api/models")).items;
  emit("models", null);
}

export async function loadModes() {
  state.modes = (await get("/api/modes")).items;
  emit("modes", null);
}

/** The mode ``name`` as the server describes it (undefined before the list loaded). */
export function modeInfo(name) {
  return state.modes.find((m) => m.name === name);
}
