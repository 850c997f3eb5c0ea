/**
 * The recorder as a plain script for your own pages:
 *
 *   <script src="https://<site>/assets/recorder.js" async
 *           data-ingest-url="https://<api>" data-ingest-key="rrk_..."></script>
 *
 * starts recording at once; or call window.RrwebS3.startRecording({...}) yourself
 * (options: see src/recorder.js).
 */
import { startRecording } from "./recorder.js";

window.RrwebS3 = { startRecording };
const script = document.currentScript;
if (script && script.dataset.ingestUrl && script.dataset.ingestKey) {
  window.RrwebS3.recorder = startRecording({
    ingestUrl: script.dataset.ingestUrl,
    ingestKey: script.dataset.ingestKey,
    maskAllInputs: script.dataset.maskAllInputs !== "false",
  });
}
