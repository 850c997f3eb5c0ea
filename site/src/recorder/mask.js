/**
 * What the privacy options leave out of a recording: maskAllText (page text as
 * asterisks, whitespace kept, outside [data-rr-unmask]) and blockMedia (media as blank
 * boxes of their size). The recording, the page's title and the screenshot all apply them.
 */

/** What blockMedia leaves out of a recording: images, video, audio and their kin. */
export const MEDIA_SELECTOR = "img, picture, video, audio, svg image, object, embed";

/** Page text as maskAllText records it: every character but whitespace an asterisk. */
export function maskText(text) {
  return String(text).replace(/\S/g, "*");
}

/**
 * Attributes whose text a visitor reads or hears (tooltips, placeholders, alternative text,
 * accessible names): maskAllText masks them as it masks text nodes. rrweb's maskTextFn
 * sees text nodes only, so without this `alt`, `title`, `aria-label` and `placeholder`
 * carried in clear what the page's text masked (a product's name as an image's alt).
 */
export const TEXT_ATTRIBUTES = [
  "alt",
  "title",
  "placeholder",
  "aria-label",
  "aria-description",
  "aria-placeholder",
  "aria-roledescription",
  "aria-valuetext",
  "aria-braillelabel",
  "aria-brailleroledescription",
  "xlink:title",
  // Where Bootstrap's tooltips move `title`.
  "data-original-title",
  "data-bs-original-title",
];
// Inputs whose value is the label a visitor reads on them.
const BUTTON_INPUTS = new Set(["submit", "button", "reset"]);
// <meta> whose content is the page's own words (a description, a share card's title).
const META_TEXT = /^(description|keywords|og:|twitter:)/i;
const UNMASK = "data-rr-unmask";
const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const MUTATION = 0;
const ELEMENT = 2;

// Masks `attributes` (of an element `tag`, an input's `type`) in place.
function maskAttributes(attributes, tag, type) {
  const mask = (name) => {
    if (typeof attributes[name] === "string" && attributes[name]) attributes[name] = maskText(attributes[name]);
  };
  for (const name of TEXT_ATTRIBUTES) mask(name);
  if (tag === "input" && BUTTON_INPUTS.has(String(type || "").toLowerCase())) mask("value");
  if (tag === "option" || tag === "optgroup" || tag === "track") mask("label");
  if (tag === "option") mask("value");
  if (tag === "meta" && META_TEXT.test(String(attributes.name || attributes.property || ""))) mask("content");
  // A frame's whole document as text: nothing of it is kept (the frame records empty).
  if (tag === "iframe" && typeof attributes.srcdoc === "string") attributes.srcdoc = "";
}

function maskElement(node) {
  if (!node.attributes) return;
  maskAttributes(node.attributes, String(node.tagName || "").toLowerCase(), node.attributes.type);
}

// A serialized tree (rrweb's snapshot format), masked in place outside [data-rr-unmask].
function maskTree(root, unmaskedAbove) {
  const stack = [[root, unmaskedAbove]];
  while (stack.length) {
    const [node, above] = stack.pop();
    if (!node) continue;
    const unmasked = above || (node.type === ELEMENT && node.attributes != null && UNMASK in node.attributes);
    if (node.type === ELEMENT && !unmasked) maskElement(node);
    for (const child of node.childNodes || []) stack.push([child, unmasked]);
  }
}

/**
 * `event` with the text attributes of the elements it carries masked (maskAllText), in
 * place: a full snapshot's tree, a mutation's added nodes and changed attributes.
 * `unmasked(id)` says whether the recorded node `id` is inside [data-rr-unmask] on the
 * page (for mutations, whose nodes hang under nodes recorded before); `element(id)` is
 * that element, whose tag an attribute change does not name.
 */
export function maskTextAttributes(event, unmasked, element = () => null) {
  if (event.type === FULL_SNAPSHOT && event.data?.node) {
    maskTree(event.data.node, false);
  } else if (event.type === INCREMENTAL && event.data?.source === MUTATION) {
    for (const added of event.data.adds || []) maskTree(added.node, unmasked(added.parentId));
    for (const change of event.data.attributes || []) {
      if (!change.attributes || unmasked(change.id)) continue;
      // A change names no tag: the page's element does.
      const live = element(change.id);
      maskAttributes(change.attributes, String(live?.tagName || "").toLowerCase(), change.attributes.type ?? live?.type);
    }
  }
  return event;
}
