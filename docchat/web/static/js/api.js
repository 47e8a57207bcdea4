// The JSON API, as any client uses it.  State changes go out as JSON (the server refuses other
// content types on JSON endpoints) or, for uploads, multipart from this same origin: the browser
// adds an Origin header the server checks (docchat/api/guard.py).  With accounts on, each state
// change also carries the login's CSRF token (``X-CSRF-Token``, read from GET /api/me), which a
// page on another site cannot read; with accounts off there is no token and no header.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

const CSRF_HEADER = "X-CSRF-Token";
const LOGIN_PAGE = "/login";

/** Who is signed in, as GET /api/me last said: the server's mode, the user, the CSRF token. */
export const auth = { mode: "none", user: null, csrf: null };

// Only the app sends a signed-out browser to the login page: on the login page itself a 401 is
// the answer to a wrong password.
let sendToLoginWhenSignedOut = false;

/** Read the sign-in mode, the user and the CSRF token; a signed-out app goes to the login page. */
export async function loadMe({ toLogin = true } = {}) {
  sendToLoginWhenSignedOut = toLogin;
  const me = await get("/api/me");
  auth.mode = me.auth_mode;
  auth.user = me.user;
  auth.csrf = me.csrf_token;
  return me;
}

function isUnsafe(method) {
  return !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase());
}

/** The error a failed response stands for; a lost login sends the app to the login page. */
async function errorFrom(response) {
  let code = "http_" + response.status;
  let message = `${response.status} ${response.statusText}`;
  let field;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      field = body.error.field;
    }
  } catch {
    // not JSON: keep the status line
  }
  return signedOutCheck(new ApiError(response.status, code, message, field));
}

function signedOutCheck(err) {
  if (sendToLoginWhenSignedOut && err.status === 401 && err.code === "not_authenticated") {
    // The hash is the view (#/chat/<id>, …): the login page comes back to it.
    window.location.assign(LOGIN_PAGE + window.location.hash);
  }
  return err;
}

/**
 * ``fetch`` with the CSRF token on a state change.  A 403 ``csrf_failed`` (the login changed in
 * another tab, so this page's token is stale) re-reads the token once and sends again.
 */
async function send(path, init) {
  const unsafe = isUnsafe(init.method || "GET");
  if (unsafe && auth.csrf) init.headers[CSRF_HEADER] = auth.csrf;
  const response = await fetch(path, init);
  if (!unsafe || response.status !== 403) return response;
  const err = await errorFrom(response.clone());
  if (err.code !== "csrf_failed") return response;
  await loadMe({ toLogin: sendToLoginWhenSignedOut });
  if (auth.csrf) init.headers[CSRF_HEADER] = auth.csrf;
  return fetch(path, init);
}

/** Call the API; JSON in and out.  Throws ApiError with the server's code and message. */
export async function api(method, path, body, { signal } = {}) {
  const init = { method, headers: { Accept: "application/json" }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await send(path, init);
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path, opts) => api("GET", path, undefined, opts);

export const enc = encodeURIComponent;

/**
 * Ask a question and read the answer's Server-Sent Events.  ``onEvent(type, data)`` is called
 * for each event; aborting ``signal`` closes the connection, which stops the turn on the server.
 */
export async function streamChat(sessionId, body, onEvent, signal) {
  const response = await send(`/api/sessions/${enc(sessionId)}/chat/stream`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(type, JSON.parse(data.join("\n")));
    }
  }
}

/**
 * Upload files (multipart) with upload progress; resolves to the accepted task.
 * ``files``: [{file, name}] where name is the relative path to record.  A stale CSRF token
 * (403 ``csrf_failed``) is re-read once and the upload sent again, as ``send`` does.
 */
export async function uploadFiles(files, collection, onProgress) {
  try {
    return await uploadOnce(files, collection, onProgress);
  } catch (err) {
    if (err.code !== "csrf_failed") throw err;
    await loadMe({ toLogin: sendToLoginWhenSignedOut });
    return uploadOnce(files, collection, onProgress);
  }
}

// XMLHttpRequest rather than fetch: fetch reports no upload progress.
function uploadOnce(files, collection, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("collection", collection);
    for (const { file, name } of files) form.append("files", file, name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/documents");
    xhr.setRequestHeader("Accept", "application/json");
    if (auth.csrf) xhr.setRequestHeader(CSRF_HEADER, auth.csrf);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const err = body && body.error ? body.error : {};
        reject(signedOutCheck(new ApiError(xhr.status, err.code || "upload_failed",
          err.message || `upload failed (${xhr.status})`, err.field)));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the upload failed")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "upload cancelled")));
    xhr.send(form);
  });
}

const FINISHED = new Set(["succeeded", "failed", "cancelled", "interrupted"]);

/** Poll a task until it ends; ``onUpdate(task)`` sees each state. */
export async function watchTask(taskId, onUpdate, intervalMs = 400) {
  for (;;) {
    const task = await get(`/api/tasks/${enc(taskId)}`);
    onUpdate(task);
    if (FINISHED.has(task.status)) return task;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
