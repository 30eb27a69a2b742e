// Token limit policy: which rules apply to a request, what a request costs, and the local
// (shared-data) counter arithmetic. Pure: the filter supplies the request facts and the storage.
//
// Cost of a request under a rule, in "tokens" (the rule's unit):
//   (input − cached)·w_input + cached·w_cached + (output − reasoning)·w_output + reasoning·w_reasoning + per_request
// with OpenAI usage semantics (input includes cached, output includes reasoning). The default
// weights are 1, so the default cost is total tokens.

import { Usage } from "../usage";
import { globMatch } from "../routing/router";

export const KEY_CLIENT = "client";
export const KEY_MODEL = "model";
export const KEY_BACKEND = "backend";
/** Keys "header:<name>" take the value of that request header. */
export const KEY_HEADER_PREFIX = "header:";

export class Cost {
  input: f64 = 1;
  cachedInput: f64 = 1;
  output: f64 = 1;
  reasoning: f64 = 1;
  perRequest: f64 = 0;
}

export class Rule {
  name: string = "";
  /** Descriptor keys (client, model, backend, header:<name>), in order. */
  keys: string[] = [];
  windowSeconds: i64 = 60;
  /** The RLS unit name for the window (second, minute, hour, day). */
  unit: string = "minute";
  limit: i64 = 0;
  cost: Cost = new Cost();
  /** Only requests whose key values match these (key, glob) pairs are counted (empty: all). */
  matchKeys: string[] = [];
  /** Patterns split at '*' (see routing/router.ts globMatch). */
  matchParts: string[][] = [];
}

/** The facts about one request that rules key and match on. */
export class RequestFacts {
  client: string = "-";
  model: string = "";
  backend: string = "";
  /** Header names (lower case) and values, as name, value, … for the headers the rules use. */
  headers: string[] = [];

  value(key: string): string {
    if (key == KEY_CLIENT) return this.client;
    if (key == KEY_MODEL) return this.model;
    if (key == KEY_BACKEND) return this.backend;
    if (key.startsWith(KEY_HEADER_PREFIX)) {
      const name = key.substring(KEY_HEADER_PREFIX.length);
      for (let i = 0; i + 1 < this.headers.length; i += 2) if (this.headers[i] == name) return this.headers[i + 1];
    }
    return "";
  }
}

export function costOf(c: Cost, u: Usage): i64 {
  let cached = u.cachedInput < u.input ? u.cachedInput : u.input;
  let reasoning = u.reasoning < u.output ? u.reasoning : u.output;
  if (cached < 0) cached = 0;
  if (reasoning < 0) reasoning = 0;
  const v = <f64>(u.input - cached) * c.input + <f64>cached * c.cachedInput +
    <f64>(u.output - reasoning) * c.output + <f64>reasoning * c.reasoning + c.perRequest;
  if (!(v > 0)) return 0;
  if (v > 9.0e18) return 9000000000000000000;
  return <i64>Math.ceil(v);
}


export function applies(r: Rule, f: RequestFacts): bool {
  for (let i = 0; i < r.matchKeys.length; i++) if (!globMatch(r.matchParts[i], f.value(r.matchKeys[i]))) return false;
  return true;
}

/** The counter identity of a request under a rule: "<rule>|k=v|k=v" (values escaped). */
export function descriptorKey(r: Rule, f: RequestFacts): string {
  let s = r.name;
  for (let i = 0; i < r.keys.length; i++) s += "|" + r.keys[i] + "=" + escapeValue(f.value(r.keys[i]));
  return s;
}

function escapeValue(v: string): string {
  if (!v.includes("|") && !v.includes("%")) return v;
  return v.replaceAll("%", "%25").replaceAll("|", "%7C");
}

/** Start of the epoch-aligned window containing now (what envoyproxy/ratelimit uses too). */
export function windowStart(now: i64, windowSeconds: i64): i64 {
  if (windowSeconds <= 0) return now;
  return now - (now % windowSeconds);
}

/** Estimated usage for admission: input from the request size, output from max_tokens. */
export function estimate(bodyBytes: i64, maxTokens: i64, defaultOutput: i64, bytesPerToken: i64): Usage {
  const u = new Usage();
  const bpt = bytesPerToken > 0 ? bytesPerToken : 4;
  u.input = (bodyBytes + bpt - 1) / bpt;
  u.output = maxTokens > 0 ? maxTokens : defaultOutput;
  u.total = u.input + u.output;
  return u;
}

/**
 * Local counter value stored in shared data: "<windowStart>:<used>". A slot per descriptor (not
 * per window) keeps the number of shared-data keys bounded by the number of descriptors: the
 * ABI has no way to delete a key.
 */
export class Counter {
  constructor(public window: i64, public used: i64) {}

  /** Parses "<window>:<used>" as stored (window -1 when unreadable; used never negative). */
  static parse(s: string): Counter {
    const c = s.indexOf(":");
    if (c <= 0) return new Counter(-1, 0);
    const used = I64.parseInt(s.substring(c + 1));
    return new Counter(I64.parseInt(s.substring(0, c)), used < 0 ? 0 : used);
  }


  encode(): string { return this.window.toString() + ":" + this.used.toString(); }
}
