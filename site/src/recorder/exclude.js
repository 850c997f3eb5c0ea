/**
 * Exclusion: elements matching excludeSelector (the bookmarklet's badge), and html2canvas's
 * copy of the page, are not in the recording at all. rrweb blocks them (blockSelector: no
 * children, interactions or attribute changes recorded); the placeholder it would still
 * record is removed here from snapshots and mutations, and pointer moves over them point
 * at the root.
 */
// rrweb re-exports its event types and sources; the snapshot's node types are only in @rrweb/types.
import { NodeType } from "@rrweb/types";
import { EventType, IncrementalSource } from "rrweb";

// html2canvas paints the thumbnail from a copy of the page in an iframe of its own:
// recorded, it would double the recording and show up in the replay.
const ALWAYS_EXCLUDED = ".html2canvas-container";

const { FullSnapshot: FULL_SNAPSHOT, IncrementalSnapshot: INCREMENTAL } = EventType;
const { Mutation: MUTATION } = IncrementalSource;
const POSITION_SOURCES = new Set([IncrementalSource.MouseMove, IncrementalSource.TouchMove, IncrementalSource.Drag]);

/** The selector of everything left out: html2canvas's copy, and `excludeSelector` when given. */
export function excludedSelector(excludeSelector) {
  return [ALWAYS_EXCLUDED, excludeSelector].filter(Boolean).join(", ");
}

/**
 * Leaves elements matching `selector` out of the recording entirely. rrweb blocks them
 * (blockSelector: no children, no interactions, no attribute changes), which still
 * records each as an empty placeholder; this removes those placeholders from snapshots
 * and mutations, and points pointer positions over them at the root element instead.
 */
export function excluder(selector, record, doc) {
  const hidden = new Set();
  const mirror = () => record.mirror;
  const matches = (node) => {
    try {
      return Boolean(node && node.matches && node.matches(selector));
    } catch (_) {
      return false;
    }
  };

  function prune(root) {
    const queue = [root];
    while (queue.length) {
      const node = queue.shift();
      if (!node.childNodes || !node.childNodes.length) continue;
      if (node.childNodes.some((child) => hidden.has(child.id))) {
        node.childNodes = node.childNodes.filter((child) => !hidden.has(child.id));
      }
      queue.push(...node.childNodes);
    }
  }

  function mutation(data) {
    const { adds = [], removes = [], texts = [], attributes = [] } = data;
    const kept = adds.filter((add) => {
      if (hidden.has(add.parentId) || hidden.has(add.node.id)) {
        hidden.add(add.node.id);
        return false;
      }
      if (add.node.type === NodeType.Element && matches(mirror().getNode(add.node.id))) {
        hidden.add(add.node.id);
        return false;
      }
      return true;
    });
    for (const add of kept) if (hidden.has(add.nextId)) add.nextId = null;
    const next = {
      ...data,
      adds: kept,
      removes: removes.filter((item) => !hidden.has(item.id)),
      texts: texts.filter((item) => !hidden.has(item.id)),
      attributes: attributes.filter((item) => !hidden.has(item.id)),
    };
    const before = adds.length + removes.length + texts.length + attributes.length;
    const after = next.adds.length + next.removes.length + next.texts.length + next.attributes.length;
    return before && !after ? null : next;
  }

  return function exclude(event) {
    if (event.type === FULL_SNAPSHOT) {
      for (const element of doc.querySelectorAll(selector)) {
        const id = mirror().getId(element);
        if (id > 0) hidden.add(id);
      }
      if (hidden.size) prune(event.data.node);
      return event;
    }
    if (event.type !== INCREMENTAL || !hidden.size) return event;
    const { data } = event;
    if (data.source === MUTATION) {
      const next = mutation(data);
      return next && { ...event, data: next };
    }
    // Inside an excluded element's shadow root, event targets are nodes rrweb never
    // serialised (id -1): they count as the excluded element too.
    const gone = (id) => hidden.has(id) || !mirror().getNode(id);
    if (POSITION_SOURCES.has(data.source) && Array.isArray(data.positions)) {
      if (!data.positions.some((p) => gone(p.id))) return event;
      const root = mirror().getId(doc.documentElement);
      return { ...event, data: { ...data, positions: data.positions.map((p) => (gone(p.id) ? { ...p, id: root } : p)) } };
    }
    return typeof data.id === "number" && gone(data.id) ? null : event;
  };
}
