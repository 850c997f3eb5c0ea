/**
 * On-error mode (onErrorBufferMs): the page is recorded, but nothing is sent until
 * something goes wrong. Events wait in a bounded buffer in memory that always starts at a
 * full snapshot (rrweb takes one every onErrorBufferMs: checkoutEveryNms), holding at most
 * about twice onErrorBufferMs of the page; older ones are let go. When the page logs at one
 * of onErrorLevels (an uncaught error is an "error" record of the console plugin), the
 * buffer is sent (the last onErrorBufferMs or more before it, from a snapshot on) and so
 * is everything after it: the recording shows what led to the error. The session keeps
 * that it was triggered, so its later pages record from their start.
 */
import { isConsole, isWhole } from "./events.js";

const META = 4;

/** The buffer in front of the transport; `pass` is where events go once triggered. */
export function createErrorBuffer({ bufferMs, levels, pass, onTrigger }) {
  let events = [];
  let triggered = false;

  function trim(now) {
    // Keep from the newest Meta (its full snapshot follows it) that is at least bufferMs
    // old: the buffer then covers bufferMs or more, and replays from a whole page.
    let from = 0;
    for (let i = 0; i < events.length; i += 1) {
      if (events[i].type === META && now - events[i].timestamp >= bufferMs) from = i;
    }
    if (from > 0) events = events.slice(from);
  }

  function triggers(event) {
    if (!isConsole(event) || !event.data.payload) return false;
    return levels.includes(event.data.payload.level);
  }

  return {
    get triggered() {
      return triggered;
    },
    /** How many events wait (for the status and the tests). */
    get waiting() {
      return events.length;
    },
    add(event) {
      if (triggered) {
        pass(event);
        return;
      }
      events.push(event);
      if (isWhole(event)) trim(event.timestamp);
      if (!triggers(event)) return;
      triggered = true;
      const held = events;
      events = [];
      onTrigger();
      for (const waiting of held) pass(waiting);
    },
  };
}
