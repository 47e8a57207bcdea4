// The source preview: the cited span highlighted in its surrounding text, and for a PDF the page
// image with the span highlighted on it.
import { enc, get } from "./api.js";
import { $, append, clear, h } from "./dom.js";

const CONTEXT_CHARS = 600;
let opener = null;
let shown = 0;

const isPdf = (ref, passage) =>
  (passage && passage.mime_type === "application/pdf") ||
  /\.pdf$/i.test((passage && passage.file_name) || ref.file_name || "");

/** Open the preview for a reference (a Citation, or a closest passage). */
export async function openPreview(ref) {
  const panel = $("#preview");
  const body = $("#preview-body");
  const ticket = ++shown;
  opener = document.activeElement;
  panel.hidden = false;
  document.body.classList.add("preview-open");
  clear(body);
  $("#preview-title").textContent = ref.n ? `Source [${ref.n}]` : "Passage";

  if (ref.kind === "web") {
    append(
      body,
      h("p", { class: "source-file" }, ref.title || ref.url),
      ref.url ? h("p", {}, h("a", { href: /^https?:/i.test(ref.url) ? ref.url : "#",
        rel: "noopener noreferrer nofollow", target: "_blank" }, ref.url)) : null,
      h("blockquote", { class: "passage" }, ref.quote || ref.snippet || ""));
    body.focus();
    return;
  }

  const start = ref.span_start ?? ref.char_start;
  const end = ref.span_end ?? ref.char_end;
  const where = [];
  if (ref.page) where.push(`page ${ref.page}`);
  if (ref.section) where.push(ref.section);
  const heading = h("div", { class: "source-where" },
    h("p", { class: "source-file" }, ref.file_name || "document"),
    h("p", { class: "source-place" }, [ref.collection ? `${ref.collection} · ` : "", where.join(" · ")].join("")));
  const textBox = h("blockquote", { class: "passage", "aria-busy": "true" }, "Loading the passage…");
  body.append(heading, textBox);
  body.focus();

  let passage = null;
  if (ref.document_id && start != null && end != null) {
    try {
      passage = await get(`/api/documents/${enc(ref.document_id)}/passage?start=${start}` +
        `&end=${end}&context=${CONTEXT_CHARS}`);
    } catch {
      passage = null;  // deleted since, or an older server: fall back to the stored quote
    }
  }
  if (ticket !== shown) return;
  clear(textBox);
  textBox.removeAttribute("aria-busy");
  if (passage) {
    // dom.js's append skips the nulls; the DOM's own Element.append would print "null".
    append(
      textBox,
      passage.before ? h("span", { class: "context" }, passage.before) : null,
      h("mark", { class: "cited-span" }, passage.text),
      passage.after ? h("span", { class: "context" }, passage.after) : null);
  } else {
    textBox.append(h("mark", { class: "cited-span" }, ref.quote || ref.snippet || "(no text)"));
  }

  const page = (passage && passage.page) || ref.page;
  if (ref.document_id && page && isPdf(ref, passage)) {
    const image = h("img", {
      class: "page-image",
      alt: `Page ${page} of ${ref.file_name || "the document"}, the cited passage highlighted`,
      src: `/api/documents/${enc(ref.document_id)}/pages/${page}/image?start=${start}` +
        `&end=${end}&scale=1.5`,
    });
    image.addEventListener("error", () => {
      image.replaceWith(h("p", { class: "hint" }, "The page image is not available."));
    });
    body.append(h("figure", { class: "page-figure" }, image,
      h("figcaption", {}, `Page ${page}`)));
  }
  if (ref.document_id) {
    const pdf = isPdf(ref, passage);
    const href = `/api/documents/${enc(ref.document_id)}/file` +
      (pdf ? `?inline=true${page ? `#page=${page}` : ""}` : "");
    body.append(h("p", {}, h("a", {
      href, target: pdf ? "_blank" : undefined, rel: "noopener", download: pdf ? undefined : "",
    }, pdf ? "Open the PDF" : "Download the original")));
  }
}

export function closePreview() {
  const panel = $("#preview");
  if (panel.hidden) return;
  panel.hidden = true;
  document.body.classList.remove("preview-open");
  shown += 1;
  if (opener && document.contains(opener)) opener.focus();
  opener = null;
}

export function initPreview() {
  $("#preview-close").addEventListener("click", closePreview);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !e.defaultPrevented && !$("#preview").hidden) closePreview();
  });
}
