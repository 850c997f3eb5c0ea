/** Loaded into any page by the bookmarklet: records it and shows a badge with a stop button. */
import { startRecording } from "./recorder.js";

const script = document.currentScript;
const { key, ingest, site } = script ? script.dataset : {};

function badge() {
  const host = document.createElement("div");
  host.id = "rrweb-s3-badge";
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
  });
  const label = document.createElement("span");
  label.textContent = "● Recording";
  label.style.color = "#ff5c5c";
  const stop = document.createElement("button");
  stop.type = "button";
  stop.textContent = "Stop";
  Object.assign(stop.style, { font: "inherit", border: "0", borderRadius: "12px", padding: "2px 10px", cursor: "pointer" });
  box.append(label, stop);
  shadow.append(box);
  document.documentElement.append(host);
  return { host, label, stop };
}

if (key && ingest && !window.__rrwebS3) {
  const ui = badge();
  const recorder = startRecording({
    ingestUrl: ingest,
    ingestKey: key,
    onError: (error) => (ui.label.textContent = `Recorder: ${error.message}`),
  });
  window.__rrwebS3 = recorder;
  ui.stop.addEventListener("click", async () => {
    ui.stop.disabled = true;
    ui.label.textContent = "Saving…";
    await recorder.stop();
    ui.label.textContent = "Saved";
    ui.label.style.color = "#7CFC9A";
    const link = document.createElement("a");
    link.href = `${site}/replay.html?id=${recorder.id}`;
    link.textContent = "Replay";
    link.target = "_blank";
    link.style.color = "#9cf";
    ui.stop.replaceWith(link);
  });
}
