// Markdown to DOM, safely.  Answers hold model output and document text, either of which may
// contain HTML.  Three walls: raw HTML in the Markdown is shown as text (never parsed as markup),
// the HTML marked produces goes through DOMPurify (returned as a DOM fragment: no innerHTML
// anywhere), and the page's Content-Security-Policy refuses inline script and other hosts.
import { Marked } from "/static/vendor/marked.esm.js";

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
})[c]);

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    // Raw HTML in the text is shown as the text it is.
    html(token) { return escapeHtml(token.raw ?? token.text ?? ""); },
    // No images from answers: they would load from wherever a document or model points.
    image(token) { return escapeHtml(token.text || token.title || ""); },
  },
});

const PURIFY_CONFIG = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ["img", "style", "form", "input", "button", "textarea", "select", "option",
    "iframe", "frame", "object", "embed", "svg", "math", "video", "audio", "source", "picture",
    "link", "meta", "base"],
  FORBID_ATTR: ["style", "class", "id", "srcset", "action", "formaction"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
};

/** ``text`` (Markdown) as a sanitised DocumentFragment. */
export function renderMarkdown(text) {
  const purify = window.DOMPurify;
  if (!purify || !purify.isSupported) {
    const fallback = document.createDocumentFragment();
    const p = document.createElement("p");
    p.textContent = text;
    fallback.append(p);
    return fallback;
  }
  const fragment = purify.sanitize(marked.parse(text, { async: false }), PURIFY_CONFIG);
  for (const a of fragment.querySelectorAll("a")) {
    a.setAttribute("rel", "noopener noreferrer nofollow");
    a.setAttribute("target", "_blank");
  }
  return fragment;
}

/** Text nodes under ``root`` with their offsets in its concatenated text. */
function textNodes(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  let offset = 0;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    nodes.push({ node: n, start: offset, end: offset + n.data.length });
    offset += n.data.length;
  }
  return nodes;
}

/** Wrap the characters [start, end) of ``root``'s text in elements made by ``make()``. */
export function wrapRange(root, start, end, make) {
  for (const { node, start: s, end: e } of textNodes(root)) {
    if (e <= start || s >= end) continue;
    let target = node;
    const from = Math.max(start - s, 0);
    const to = Math.min(end - s, node.data.length);
    if (to < target.data.length) target.splitText(to);
    if (from > 0) target = target.splitText(from);
    const wrapper = make();
    target.replaceWith(wrapper);
    wrapper.append(target);
  }
}

const squash = (s) => s.replace(/\s+/g, " ");

const MARKER = /\s*\[\d+\]/g;

/**
 * Find ``needle`` in ``root``'s text, ignoring whitespace, Markdown emphasis characters and
 * citation markers (the check stores sentences without them); returns [start, end) or null.
 * The match starts at or after offset ``from`` (a repeated sentence: its second copy).
 */
export function findText(root, needle, from = 0) {
  const haystack = textNodes(root).map((t) => t.node.data).join("");
  const skip = new Uint8Array(haystack.length);
  for (const m of haystack.matchAll(MARKER)) skip.fill(1, m.index, m.index + m[0].length);
  // Compare on a normalised copy, keeping a map back to the original offsets.
  const keep = (c) => !/[\s*_`]/.test(c);
  const map = [];
  let norm = "";
  for (let i = 0; i < haystack.length; i++) {
    if (!skip[i] && keep(haystack[i])) { norm += haystack[i]; map.push(i); }
  }
  const target = [...squash(needle.replace(MARKER, ""))].filter(keep).join("");
  if (!target) return null;
  let first = 0;
  while (first < map.length && map[first] < from) first++;
  const at = norm.indexOf(target, first);
  if (at < 0) return null;
  return [map[at], map[at + target.length - 1] + 1];
}
