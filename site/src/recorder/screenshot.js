/**
 * Screenshot: a new recording's viewport thumbnail, painted by html2canvas from a copy of
 * the page whose form values are masked as the recording masks them, and uploaded with
 * the presigned POST the create's answer carries.
 */

import { MEDIA_SELECTOR, TEXT_ATTRIBUTES, maskText } from "./mask.js";

/**
 * Masks form values in a (cloned) document the way the recording masks them, so the
 * screenshot shows no more than the replay: text fields become asterisks unless inside
 * [data-rr-unmask]; selects lose their choice; checkboxes and radios stay (as in rrweb).
 */
export function maskFormValues(doc, maskAllInputs) {
  if (!maskAllInputs) return;
  for (const field of doc.querySelectorAll("input, textarea, select")) {
    if (field.closest("[data-rr-unmask]")) continue;
    if (field.tagName === "SELECT") {
      field.selectedIndex = -1;
    } else if (!["checkbox", "radio", "button", "submit", "reset", "image", "hidden"].includes(field.type)) {
      const masked = "*".repeat(field.value.length);
      field.value = masked;
      if (field.tagName === "TEXTAREA") field.textContent = masked;
      else field.setAttribute("value", masked);
    }
  }
}

/**
 * Masks the text of a (cloned) document as maskAllText records it, text nodes and text
 * attributes, outside [data-rr-unmask], so the screenshot shows no more than the replay.
 */
export function maskPageText(doc) {
  const walker = doc.createTreeWalker(doc.body || doc, 4 /* NodeFilter.SHOW_TEXT */);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (parent && (parent.closest("[data-rr-unmask]") || parent.closest("script, style"))) continue;
    node.nodeValue = maskText(node.nodeValue);
  }
  // A button's label is its value.
  for (const button of doc.querySelectorAll("input[type=submit], input[type=button], input[type=reset]")) {
    if (!button.closest("[data-rr-unmask]")) button.value = maskText(button.value);
  }
  // A placeholder or an image's alt text shows in the picture too.
  const named = TEXT_ATTRIBUTES.map((name) => `[${name.replace(":", "\\:")}]`).join(", ");
  for (const element of doc.querySelectorAll(named)) {
    if (element.closest("[data-rr-unmask]")) continue;
    for (const name of TEXT_ATTRIBUTES) {
      const value = element.getAttribute(name);
      if (value) element.setAttribute(name, maskText(value));
    }
  }
}

/**
 * Paints the viewport of `win` and uploads it with `deps.fetch` as `answer.screenshotUpload`
 * says (the create's answer; nothing to do without one). Throws when it cannot.
 */
/**
 * Masks a (cloned) document as the recording is masked, per the recorder's privacy
 * options: form values, page text (maskAllText) and media (blockMedia, left blank).
 */
export function maskClone(clone, { maskAllInputs, maskAllText = false, blockMedia = false }) {
  maskFormValues(clone, maskAllInputs);
  if (maskAllText) maskPageText(clone);
  // Blocked media is a blank box in the replay: the same in the thumbnail.
  if (blockMedia) for (const media of clone.querySelectorAll(MEDIA_SELECTOR)) media.style.visibility = "hidden";
}

export async function uploadScreenshot(answer, { deps, doc, win, masks }) {
  if (!answer || !answer.screenshotUpload) return;
  const { screenshotUpload } = answer;
  const { default: html2canvas } = await import("html2canvas");
  const canvas = await html2canvas(doc.body, {
    x: win.scrollX,
    y: win.scrollY,
    width: win.innerWidth,
    height: win.innerHeight,
    scale: Math.min(1, 640 / win.innerWidth),
    logging: false,
    useCORS: true,
    onclone: (clone) => maskClone(clone, masks),
  });
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.7));
  if (!blob || blob.size > screenshotUpload.maxBytes) throw new Error("screenshot too large; skipped");
  const form = new FormData();
  for (const [name, value] of Object.entries(screenshotUpload.fields)) form.append(name, value);
  form.append("file", blob, "screenshot.jpg");
  const response = await deps.fetch(screenshotUpload.url, { method: "POST", body: form });
  if (!response.ok) throw new Error(`screenshot upload failed: HTTP ${response.status}`);
}
