/** Times within a recording, as the replay page writes them. */

/** m:ss, or h:mm:ss from an hour on. */
export function formatMoment(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/**
 * How long a recording followed live has run, in ms: from its start to the newest event
 * seen. Its start is the earlier of its first event seen here and its first counted event,
 * or its creation while none is counted yet: a page opened while its first batches wait out
 * the unwatched window has seen only the snapshot taken for it, which would read 0:00.
 * (Creation is the stack's clock, events the recorder's: only that first while mixes them.)
 */
export function liveDurationMs(recording, events) {
  if (!events.length) return 0;
  const counted = Number.isFinite(recording.firstEventAt) ? recording.firstEventAt : recording.createdAt;
  const starts = [events[0].timestamp, counted].filter(Number.isFinite);
  return Math.max(0, events[events.length - 1].timestamp - Math.min(...starts));
}
