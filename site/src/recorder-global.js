/**
 * The recorder as a plain script for your own pages:
 *
 *   <script src="https://<site>/assets/recorder.js" async
 *           data-ingest-url="https://<api>" data-ingest-key="rrk_..."></script>
 *
 * starts recording at once (optional: data-mask-all-inputs="false", data-session="false",
 * data-record-console="false"; data-key-controls reads the controls set on the key in
 * the site first); or call window.RrwebS3.startRecording({...}) yourself
 * (options: docs/recorder.md). Every page of a visit in one tab joins one recording.
 *
 *   window.RrwebS3.identify("user-42", { plan: "team" });
 *
 * identifies the visitor to the running recorder (or the next one started on this page),
 * throwing a TypeError for a user the API would refuse. window.RrwebS3.recorder is the
 * running recorder (status(), stop(), ...).
 */
import { describeStatus, startRecording, validateUser, withKeyControls } from "./recorder.js";

let waiting = null; // identified before any recorder started

const api = {
  describeStatus,
  recorder: null,
  startRecording(options) {
    const recorder = startRecording(options);
    api.recorder = recorder;
    if (waiting) recorder.identify(waiting.id, waiting.traits);
    waiting = null;
    return recorder;
  },
  identify(userId, traits) {
    const user = validateUser(userId, traits);
    if (api.recorder) api.recorder.identify(user.id, user.traits);
    else waiting = user;
  },
};
window.RrwebS3 = api;

const script = document.currentScript;
if (script && script.dataset.ingestUrl && script.dataset.ingestKey) {
  const { dataset } = script;
  // In a task of its own, once the page had its turn: evaluating this script and taking
  // the page's first snapshot are each below a long task (50 ms); together, or back to
  // back with the page's own work in between held off, on a large page, they are not.
  // An idle callback runs after what the page has queued (at most a second later).
  const later = window.requestIdleCallback || ((start) => setTimeout(start, 0));
  later(() => startFromDataset(dataset), { timeout: 1000 });
}

function listOf(value) {
  return value ? value.split(",").map((part) => part.trim()).filter(Boolean) : [];
}

async function startFromDataset(dataset) {
  const options = {
    ingestUrl: dataset.ingestUrl,
    ingestKey: dataset.ingestKey,
    maskAllInputs: dataset.maskAllInputs !== "false",
    maskAllText: dataset.maskAllText === "true",
    blockMedia: dataset.blockMedia === "true",
    ...(dataset.sampleRate ? { sampleRate: Number(dataset.sampleRate) } : {}),
    ...(dataset.minimumDurationMs ? { minimumDurationMs: Number(dataset.minimumDurationMs) } : {}),
    ...(dataset.onErrorBufferMs ? { onErrorBufferMs: Number(dataset.onErrorBufferMs) } : {}),
    ...(dataset.onErrorLevels ? { onErrorLevels: listOf(dataset.onErrorLevels) } : {}),
    // Comma-separated URL patterns, `*` a wildcard.
    urlAllow: listOf(dataset.urlAllow),
    urlDeny: listOf(dataset.urlDeny),
    session: dataset.session !== "false",
    recordConsole: dataset.recordConsole !== "false",
    screenshot: dataset.screenshot !== "false",
    captureAssets: dataset.captureAssets !== "false",
    captureImages: dataset.captureImages !== "false",
  };
  // data-key-controls: the controls an admin set on the key in the site replace these.
  api.startRecording("keyControls" in dataset && dataset.keyControls !== "false" ? await withKeyControls(options) : options);
}
