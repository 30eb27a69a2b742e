// Stage 3, admit: estimate what the request will cost and let the token limits admit or deny it
// before anything goes upstream. Local mode reserves the estimate in shared-data counters
// (filter/limits.ts LocalLimiter); global mode asks envoyproxy/ratelimit (the filter glue makes
// the gRPC call; GlobalLimiter decides on the answer). Admission happens once per client request,
// downstream, whatever happens upstream.

import { LimitsConfig, StreamEdge } from "../config/config";
import { ApiError } from "../errors";
import { Kind } from "../json/json";
import { Rule, RequestFacts, estimate, costOf } from "../limits/policy";
import { Admission } from "../filter/limits";
import { ClientRequest, Endpoint } from "../providers/provider";
import { Usage } from "../usage";
import { Identity } from "./identify";

/** What admit decided; read by the response stages (meter, commit). */
export class Admit {
  admission: Admission | null = null;
  /** Admission estimate, used as the cost when no usage arrives (client abort, broken stream). */
  estimated: Usage | null = null;
  /** Global mode: the rules the check covered (the debit uses the same descriptors). */
  globalRules: Rule[] = [];
  /** Output tokens this stream may produce before it is cut (-1: no cut). */
  outputBudget: i64 = -1;
}

/** The values the limit rules key and match on. */
export function factsOf(id: Identity, req: ClientRequest): RequestFacts {
  const f = new RequestFacts();
  f.client = id.client;
  f.model = req.model;
  f.backend = req.backend.name;
  f.headers = id.limitHeaders;
  return f;
}

/** Estimated usage: request bytes / bytes_per_token input, max_(completion_)tokens or the default output. */
export function estimateOf(req: ClientRequest, requestBytes: i64, lc: LimitsConfig): Usage {
  const doc = req.doc, root = req.root;
  const mt = doc.get(root, req.endpoint == Endpoint.Responses ? "max_output_tokens" : "max_completion_tokens");
  const mt2 = mt !== null && mt.kind == Kind.Num ? mt : doc.get(root, "max_tokens");
  return estimate(requestBytes, doc.int(mt2, 0), lc.defaultOutputTokens, lc.bytesPerToken);
}

/**
 * With limits.stream_edge "cut": how many output tokens this stream may produce under its most
 * restrictive rule: what remains of the budget (plus, in local mode, this request's own
 * reservation) minus the input cost, divided by the output weight. -1: no cut.
 */
export function outputBudget(adm: Admission, local: bool, est: Usage | null, lc: LimitsConfig | null, req: ClientRequest | null): i64 {
  if (lc === null || lc.streamEdge != StreamEdge.Cut || req === null || !req.stream || est === null) return -1;
  const r = adm.rule;
  if (r === null) return -1;
  let budget = adm.remaining;
  if (local) for (let i = 0; i < adm.reservations.length; i++) if (adm.reservations[i].rule === r) budget += adm.reservations[i].amount;
  const input = new Usage();
  input.input = est.input;
  budget -= costOf(r.cost, input);
  const w = r.cost.output > 0 ? r.cost.output : 1;
  const allowed = <i64>Math.floor(<f64>budget / w);
  return allowed > 0 ? allowed : 0;
}

/** x-ratelimit-* headers (OpenAI's names) for the most restrictive rule of an admission. */
export function limitHeaderPairs(adm: Admission): string[] {
  if (adm.rule === null) return [];
  return [
    "x-ratelimit-limit-tokens", adm.limit.toString(),
    "x-ratelimit-remaining-tokens", adm.remaining.toString(),
    "x-ratelimit-reset-tokens", adm.resetSeconds.toString() + "s",
  ];
}

/** The 429 of a denied admission (its headers: rateLimitedHeaders). */
export function rateLimitedError(adm: Admission): ApiError {
  const r = adm.rule;
  const what = r !== null ? " (rule " + r.name + ", per " + r.unit + ")" : "";
  const msg = "Rate limit reached for tokens" + what + ": limit " + adm.limit.toString() +
    ", used " + adm.used.toString() + (adm.requested > 0 ? ", requested " + adm.requested.toString() : "") +
    ". Please try again in " + adm.resetSeconds.toString() + "s.";
  return new ApiError(429, "tokens", "rate_limit_exceeded", msg);
}

export function rateLimitedHeaders(adm: Admission): string[] {
  const headers = limitHeaderPairs(adm);
  headers.push("retry-after"); headers.push((adm.resetSeconds > 0 ? adm.resetSeconds : 1).toString());
  return headers;
}
