/**
 * The recorder's limits: what the API accepts, from its own definition
 * (api/chalicelib/settings.py, written by `python -m ops.site_limits`): one ingest
 * request's bytes on the wire, bytes inflated and events; identify()'s user; a create's
 * url, title and viewport; the recording id's pattern; and how often a watched
 * recording's batches leave. Every module that checks a limit takes it from here.
 */
import API_LIMITS from "../generated/limits.json" with { type: "json" };

export const LIMITS = Object.freeze({ ...API_LIMITS });
