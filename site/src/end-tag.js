/** The tag of the custom event (type 5) the recorder's stop() records last: the recording ended there. */
export const END_TAG = "end";
/**
 * The tag of the custom event the recorder adds just before a full snapshot it asks rrweb
 * for on the same page (someone started watching, or recording resumed after a pause):
 * the Meta event that follows is that snapshot's, not a new page view.
 */
export const SNAPSHOT_TAG = "snapshot";
