/**
 * Loaded into any page by the bookmarklet: records it and shows a badge with a stop button.
 *
 * The badge says what is true: "Recording" (with the backlog and its trouble while the
 * API does not take batches), then "Saved · Replay" only once every batch was
 * acknowledged, otherwise why not ("Not saved: the ingest key was refused"). It is left
 * out of the recording entirely. Clicked again on the next page of the same site in the
 * same tab, the bookmarklet continues the same recording (the recorder's session).
 */
import { describeStatus, startRecording } from "./recorder.js";

const BADGE_ID = "rrweb-s3-badge";
const TONES = { ok: "#7CFC9A", busy: "#ffd166", bad: "#ff8a80" };

const script = document.currentScript;
const { key, ingest, site } = script ? script.dataset : {};

function badge() {
  const host = document.createElement("div");
  host.id = BADGE_ID;
  Object.assign(host.style, { position: "fixed", zIndex: "2147483647", right: "16px", bottom: "16px" });
  const shadow = host.attachShadow({ mode: "open" });
  const box = document.createElement("div");
  Object.assign(box.style, {
    font: "13px/1.3 system-ui, sans-serif",
    background: "#111",
    color: "#fff",
    padding: "8px 12px",
    borderRadius: "18px",
    boxShadow: "0 2px 8px rgba(0,0,0,.3)",
    display: "flex",
    gap: "10px",
    alignItems: "center",
    maxWidth: "420px",
  });
  const label = document.createElement("span");
  label.setAttribute("role", "status");
  label.textContent = "● Recording";
  label.style.color = "#ff5c5c";
  const stop = document.createElement("button");
  stop.type = "button";
  stop.textContent = "Stop";
  Object.assign(stop.style, { font: "inherit", border: "0", borderRadius: "12px", padding: "2px 10px", cursor: "pointer" });
  const link = document.createElement("a");
  link.textContent = "Replay";
  link.target = "_blank";
  link.style.color = "#9cf";
  box.append(label, stop);
  shadow.append(box);
  // Attached before recording starts, and excluded from it: no trace in the events.
  document.documentElement.append(host);
  return { host, box, label, stop, link };
}

if (key && ingest && !window.__rrwebS3) {
  const ui = badge();
  let last = null;
  let ticking = null;
  let stopping = false;

  const render = () => {
    if (!last) return;
    const { text, tone, saved } = describeStatus(last);
    const recording = last.state === "recording";
    ui.label.textContent = recording ? `● ${text}` : text;
    ui.label.style.color = recording && tone === "ok" ? "#ff5c5c" : TONES[tone];
    ui.link.href = `${site}/replay.html?id=${encodeURIComponent(last.id)}`;
    // Only what applies is in the badge: Stop while recording, the replay link once saved.
    const parts = [ui.label];
    if (!stopping && (recording || last.state === "failed")) parts.push(ui.stop);
    if (saved) parts.push(" · ", ui.link);
    ui.box.replaceChildren(...parts);
    // The retry countdown moves on its own.
    if (last.retryAt && !ticking) ticking = setInterval(render, 1000);
    if (!last.retryAt && ticking) {
      clearInterval(ticking);
      ticking = null;
    }
  };

  const recorder = startRecording({
    ingestUrl: ingest,
    ingestKey: key,
    excludeSelector: `#${BADGE_ID}`,
    onStatus: (status) => {
      last = status;
      render();
    },
  });
  window.__rrwebS3 = recorder;
  ui.stop.addEventListener("click", async () => {
    stopping = true;
    render();
    await recorder.stop();
    last = recorder.status();
    render();
  });
}
