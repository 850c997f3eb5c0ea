/** The tag of the custom event (type 5) the recorder's stop() records last: the recording ended there. */
export const END_TAG = "end";
