/**
 * Identify: the visitor's user, checked as the API checks it (LIMITS), so identify()
 * throws where the API would refuse instead of losing a batch.
 */
import { LIMITS } from "./limits.js";

const utf8Length = (text) => new TextEncoder().encode(text).length;

/**
 * The user identify() records, checked as the API checks it (LIMITS): an id of 1 to 256
 * characters; traits a plain object of at most 50 keys (1 to 64 characters) whose values
 * are strings of at most 512 characters, finite numbers, booleans or null, and at most
 * 4096 bytes as JSON. Returns {id, traits}; throws a TypeError saying what is wrong.
 */
export function validateUser(userId, traits) {
  if (typeof userId !== "string" || userId.length < 1 || userId.length > LIMITS.userIdLength) {
    throw new TypeError(`identify: the user id must be a string of 1 to ${LIMITS.userIdLength} characters`);
  }
  const given = traits == null ? {} : traits;
  const proto = typeof given === "object" ? Object.getPrototypeOf(given) : undefined;
  if (typeof given !== "object" || Array.isArray(given) || (proto !== Object.prototype && proto !== null)) {
    throw new TypeError("identify: traits must be a plain object");
  }
  const keys = Object.keys(given);
  if (keys.length > LIMITS.traits) throw new TypeError(`identify: traits may have at most ${LIMITS.traits} keys`);
  const clean = {};
  for (const key of keys) {
    if (key.length < 1 || key.length > LIMITS.traitKeyLength) {
      throw new TypeError(`identify: trait names must have 1 to ${LIMITS.traitKeyLength} characters`);
    }
    const value = given[key];
    const fits =
      value === null ||
      typeof value === "boolean" ||
      (typeof value === "number" && Number.isFinite(value)) ||
      (typeof value === "string" && value.length <= LIMITS.traitValueLength);
    if (!fits) {
      throw new TypeError(
        `identify: trait "${key}" must be a string of at most ${LIMITS.traitValueLength} characters, a finite number, a boolean or null`,
      );
    }
    clean[key] = value;
  }
  if (utf8Length(JSON.stringify(clean)) > LIMITS.traitsBytes) {
    throw new TypeError(`identify: traits may be at most ${LIMITS.traitsBytes} bytes as JSON`);
  }
  return { id: userId, traits: clean };
}
