/**
 * What the privacy options leave out of a recording: maskAllText (page text as
 * asterisks, whitespace kept, outside [data-rr-unmask]) and blockMedia (media as blank
 * boxes of their size). The recording, the page's title and the screenshot all apply them.
 */

/** What blockMedia leaves out of a recording: images, video, audio and their kin. */
export const MEDIA_SELECTOR = "img, picture, video, audio, svg image, object, embed";

/** Page text as maskAllText records it: every character but whitespace an asterisk. */
export function maskText(text) {
  return String(text).replace(/\S/g, "*");
}
