/**
 * The replay page's controls around rrweb-player: sizing it to the window, the
 * keyboard, and links to a moment (`?t=`).
 */

// rrweb-player draws its controller under the frame, this tall.
export const CONTROLLER_PX = 80;
// The narrowest frame whose controller's bar and buttons fit on one line.
const CONTROLLER_MIN_WIDTH = 560;
const MIN_WIDTH = 240;
const SEEK_MS = 5000;
const LONG_SEEK_MS = 30000;

/**
 * A moment from `?t=`: seconds (`75`, `75.5`, `75s`), m:ss or h:mm:ss (`1:15`,
 * `1:02:03`), or `1h2m3s`; its offset in ms, or null when it is none of these.
 */
export function parseMoment(text) {
  if (text == null) return null;
  const value = String(text).trim();
  let seconds = null;
  if (/^\d+(\.\d+)?s?$/.test(value)) {
    seconds = parseFloat(value);
  } else if (/^\d+(:[0-5]?\d){1,2}(\.\d+)?$/.test(value)) {
    seconds = value.split(":").reduce((total, part) => total * 60 + parseFloat(part), 0);
  } else {
    const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(value);
    if (match && value) seconds = Number(match[1] || 0) * 3600 + Number(match[2] || 0) * 60 + Number(match[3] || 0);
  }
  return seconds === null || !Number.isFinite(seconds) ? null : Math.round(seconds * 1000);
}

/** This page's address with `t` set to the moment (whole seconds). */
export function momentUrl(ms, href = location.href, workspace = null) {
  const url = new URL(href);
  url.searchParams.set("t", String(Math.floor(Math.max(0, ms) / 1000)));
  // A team workspace's recording: a teammate opening the link acts in that workspace.
  if (workspace) url.searchParams.set("w", workspace);
  return url.href;
}

/**
 * The player's frame size: as large as the room left in the window below `stage`'s top
 * allows (less the controller under the frame and `besideWidth` beside it), at the
 * recording's aspect ratio. A tall recording (a phone's) is as tall as the room, and
 * its frame still at least CONTROLLER_MIN_WIDTH wide where the room allows, the
 * recording centred in it: the controller under it is as wide as the frame, and at a
 * phone's width its bar and buttons have no room.
 */
export function fitSize({ stage, recorded, controller, besideWidth = 0, bottom = 12 }) {
  const top = stage.getBoundingClientRect().top;
  const width = Math.max(MIN_WIDTH, stage.clientWidth - besideWidth);
  const height = Math.max(MIN_WIDTH / 2, window.innerHeight - top - controller - bottom);
  const ratio = recorded.width > 0 && recorded.height > 0 ? recorded.width / recorded.height : 16 / 10;
  const fitted = Math.min(width, height * ratio);
  return { width: Math.floor(Math.max(fitted, Math.min(width, CONTROLLER_MIN_WIDTH))), height: Math.floor(fitted / ratio) };
}

/** Whether keys typed here belong to a form field (or editable text), not to the player. */
function typingInto(target) {
  if (!target || !target.closest) return false;
  return Boolean(target.isContentEditable || target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])"));
}

/**
 * Space plays or pauses, Left and Right seek 5 s back or on, 30 s with Shift, unless
 * the keys go to a form field. `current()` is the player now (null while there is none
 * to control: loading, or following live).
 */
export function bindKeys(current) {
  const handles = (event) =>
    !event.altKey && !event.ctrlKey && !event.metaKey && !typingInto(event.target) && current() !== null;
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || !handles(event)) return;
    const player = current();
    if (event.key === " ") {
      event.preventDefault();
      if (!event.repeat) player.toggle();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      const step = (event.shiftKey ? LONG_SEEK_MS : SEEK_MS) * (event.key === "ArrowLeft" ? -1 : 1);
      const replayer = player.getReplayer();
      const total = replayer.getMetaData().totalTime;
      player.goto(Math.min(total, Math.max(0, replayer.getCurrentTime() + step)));
    }
  });
  // A focused button would also take the Space as a click when it is released.
  document.addEventListener("keyup", (event) => {
    if (event.key === " " && handles(event)) event.preventDefault();
  });
  // Focus that lands inside the replayed page (an element the visitor had focused, or a
  // click on the frame) would take every key there, out of this document's reach: it is
  // handed back at once. The replay is a picture of the page, nothing to type into.
  window.addEventListener("blur", () => setTimeout(releaseReplayFocus, 0));
}

/** If the replay's frame holds the focus, give it back to this page. */
export function releaseReplayFocus() {
  const active = document.activeElement;
  if (active && active.tagName === "IFRAME" && active.closest(".replayer-wrapper")) {
    active.blur();
    window.focus();
  }
}
