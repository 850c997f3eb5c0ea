/** Replay page: loads a recording's events page by page, with progress, into rrweb-player. */
import rrwebPlayer from "rrweb-player";
import "rrweb-player/dist/style.css";
import { Api, escapeHtml, formatDuration, loadConfig } from "./api.js";

const $ = (selector) => document.querySelector(selector);

async function main() {
  const api = new Api(await loadConfig());
  if (!api.signedIn) {
    location.href = "index.html";
    return;
  }
  const id = new URLSearchParams(location.search).get("id");
  const recording = await api.recording(id);
  $("#title").textContent = recording.title || recording.url || recording.id;
  $("#facts").innerHTML = `${escapeHtml(recording.url || "")} · ${formatDuration(recording.durationMs)} · ${recording.eventCount} events`;
  const progress = $("#progress");
  progress.max = Math.max(1, recording.eventCount);
  const events = [];
  let after = null;
  do {
    const page = await api.eventsPage(id, after);
    events.push(...page.events);
    after = page.next;
    progress.value = events.length;
    $("#progress-label").textContent = `Loaded ${events.length} of ${recording.eventCount} events`;
  } while (after);
  $("#loading").hidden = true;
  if (events.length < 2) {
    $("#player").textContent = "Nothing to replay yet: events arrive within seconds of being recorded.";
    return;
  }
  const width = Math.min(1024, document.body.clientWidth - 32);
  window.__player = new rrwebPlayer({
    target: $("#player"),
    props: { events, width, height: Math.round(width * 0.6), autoPlay: false, showController: true },
  });
  window.__replayEvents = events.length;
}

main().catch((error) => {
  $("#progress-label").textContent = error.message;
});
