/**
 * Masked form fields replay as masked, never as an error the visitor never saw.
 *
 * The recorder masks input values (maskAllInputs): rrweb records them as asterisks of
 * the value's length. Replayed as they are, they break the field's own constraints: a
 * masked <select> holds a value none of its options has (so nothing is selected, and a
 * required one is :invalid), a masked type=email or a pattern does not match, a masked
 * type=number is emptied. Pages styled on :invalid (Bootstrap's `.was-validated
 * .form-select:invalid ~ .invalid-feedback`, "Please select a valid country") then show
 * errors the visitor never had.
 *
 * This replayer plugin gives a select with a masked value an option holding the mask,
 * selected, and lifts from an input or textarea holding a masked value the constraints
 * the mask breaks (types checked by format become text; pattern, minlength, required
 * go), putting them back once it holds an unmasked value again (emptied, say: then
 * a required field's error is one the visitor did see).
 *
 * rrweb sets values in three ways: as the `value` attribute when it builds a node,
 * with `element.value = text` for each input event (straight into the page, or, when
 * seeking, from its virtual DOM once the seek is done), and as attribute mutations.
 * Each field's `value` setter is wrapped when the field is built; a seek's end
 * ("flush") and attribute mutations are checked as well.
 */
import { EventType, IncrementalSource } from "@rrweb/types";

const MASK = /^\*+$/;
// Types whose value must have a format that asterisks never have.
const FORMATTED = new Set(["email", "url", "number", "tel", "date", "datetime-local", "month", "week", "time"]);
const CONSTRAINTS = ["pattern", "minlength", "required"];
const FIELDS = "input, textarea, select";
const MASK_OPTION = "data-rrweb-masked";

/** Whether a recorded value is a mask (asterisks only) rather than what was typed. */
export const isMasked = (value) => typeof value === "string" && MASK.test(value);

const isField = (node) => node && node.nodeType === 1 && ["INPUT", "TEXTAREA", "SELECT"].includes(node.nodeName);

function valueDescriptor(element) {
  for (let proto = Object.getPrototypeOf(element); proto; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, "value");
    if (descriptor) return descriptor;
  }
  return null;
}

/** The select's option standing for a masked value, made (and kept last) if needed. */
function maskOption(select, masked) {
  let option = select.querySelector(`option[${MASK_OPTION}]`);
  if (!option) {
    option = select.ownerDocument.createElement("option");
    option.setAttribute(MASK_OPTION, "");
    select.append(option);
  }
  option.value = masked;
  option.textContent = masked;
  return option;
}

export function maskedFieldsPlugin() {
  // Fields whose constraints were lifted, with the attributes they had.
  const relaxed = new WeakMap();
  const wrapped = new WeakSet();
  // The `value` attribute each select was last brought in line with (input events set
  // its value since, which the attribute knows nothing of).
  const recordedValues = new WeakMap();
  const replayers = new WeakSet();

  function relax(field) {
    if (!relaxed.has(field)) {
      const saved = {};
      for (const name of ["type", ...CONSTRAINTS]) saved[name] = field.getAttribute(name);
      relaxed.set(field, saved);
    }
    if (field.nodeName === "INPUT" && FORMATTED.has((field.getAttribute("type") || "").toLowerCase())) {
      field.setAttribute("type", "text");
    }
    for (const name of CONSTRAINTS) field.removeAttribute(name);
  }

  function restore(field) {
    const saved = relaxed.get(field);
    if (!saved) return;
    relaxed.delete(field);
    for (const [name, value] of Object.entries(saved)) {
      if (value === null) field.removeAttribute(name);
      else field.setAttribute(name, value);
    }
  }

  /** Before `value` is set: make room for a masked value, or put constraints back. */
  function beforeValue(field, value) {
    if (field.nodeName === "SELECT") {
      if (isMasked(value)) maskOption(field, value);
    } else if (isMasked(value)) {
      relax(field);
    } else {
      restore(field);
    }
  }

  function wrapValue(field) {
    if (wrapped.has(field)) return;
    const descriptor = valueDescriptor(field);
    if (!descriptor || !descriptor.set) return;
    wrapped.add(field);
    Object.defineProperty(field, "value", {
      configurable: true,
      enumerable: descriptor.enumerable,
      get() {
        return descriptor.get.call(this);
      },
      set(value) {
        beforeValue(this, String(value));
        descriptor.set.call(this, value);
      },
    });
  }

  /**
   * Brings a field in line with what it holds: a select with the mask it was recorded
   * with (when built, or when that attribute changed since), an input or textarea
   * relaxed while it holds a mask.
   */
  function check(field) {
    wrapValue(field);
    if (field.nodeName === "SELECT") {
      const recorded = field.getAttribute("value");
      if (recordedValues.get(field) === recorded) return;
      recordedValues.set(field, recorded);
      const current = field.selectedOptions[0];
      if (isMasked(recorded) && !(current && current.hasAttribute(MASK_OPTION))) maskOption(field, recorded).selected = true;
    } else if (isMasked(field.value)) {
      relax(field);
    } else {
      restore(field);
    }
  }

  function sweep(replayer) {
    const doc = replayer.iframe && replayer.iframe.contentDocument;
    if (doc) for (const field of doc.querySelectorAll(FIELDS)) check(field);
  }

  function watch(replayer) {
    if (replayers.has(replayer)) return;
    replayers.add(replayer);
    // A seek applies input events to rrweb's virtual DOM and copies the result to the
    // page at its end, creating nodes there before any plugin sees them.
    replayer.on("flush", () => sweep(replayer));
  }

  return {
    onBuild(node, { replayer }) {
      if (replayer) watch(replayer);
      if (isField(node)) check(node);
    },
    handler(event, isSync, { replayer }) {
      watch(replayer);
      const mutation = event.type === EventType.IncrementalSnapshot && event.data.source === IncrementalSource.Mutation;
      if (isSync || !mutation || !event.data.attributes.length) return;
      const mirror = replayer.getMirror();
      for (const change of event.data.attributes) {
        if (!("value" in change.attributes || "type" in change.attributes)) continue;
        const node = mirror.getNode(change.id);
        if (isField(node)) check(node);
      }
    },
  };
}
