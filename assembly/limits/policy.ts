// Token limit policy: which rules apply to a request, what a request costs, and the local
// (shared-data) counter arithmetic. Pure: the filter supplies the request facts and the storage.
//
// Cost of a request under a rule, in "tokens" (the rule's unit):
//   (input − cached)·w_input + cached·w_cached + (output − reasoning)·w_output + reasoning·w_reasoning + per_request
// with OpenAI usage semantics (input includes cached, output includes reasoning). The default
// weights are 1, so the default cost is total tokens.

import { Usage } from "../usage";
import { globMatch } from "../routing/router";
import { sha256 } from "../util/sha256";
import { hexEncode } from "../util/hex";

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
  /**
   * Counter slots of this rule in shared data (limits.max_keys, or the rule's max_keys): the most
   * distinct descriptors counted apart in one window. 1 for a rule without keys.
   */
  slots: i32 = DEFAULT_MAX_KEYS;
}

/** Default of limits.max_keys: counter slots per rule. */
export const DEFAULT_MAX_KEYS: i32 = 1000;
/** Largest limits.max_keys: 65536 slots of at most ~200 bytes each (see docs/design.md). */
export const MAX_MAX_KEYS: i32 = 65536;
/** Hashed slot candidates a descriptor tries before it is counted in the overflow slot. */
export const SLOT_PROBES: i32 = 16;
/** Slot id of the overflow counter (a descriptor id is 32 hex digits, never "*"). */
export const OVERFLOW_ID = "*";

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
 * Where a descriptor is counted in local mode. Shared data has no delete, so the number of
 * keys must not depend on what clients send: each rule owns `slots` fixed counter keys
 * ("<rule>#<i>") plus one overflow key ("<rule>#*"). A descriptor is identified by the first
 * 128 bits of the SHA-256 of its key (descriptorKey), tries SLOT_PROBES slots chosen by that hash
 * (double hashing), and takes the first that is free: never created, or held by another descriptor
 * in a window that has ended. When every candidate is held in the current window the request is
 * counted in the overflow slot, one counter with the rule's limit shared by all such descriptors:
 * a flood of new values can make newcomers share a budget, never escape the limit.
 */
export class SlotPlan {
  /** 32 hex digits identifying the descriptor inside its slot. */
  id: string;
  /** Slot numbers to try, in order (distinct unless the table is smaller than SLOT_PROBES). */
  probes: i32[] = [];

  constructor(r: Rule, descriptor: string) {
    const h = sha256(Uint8Array.wrap(String.UTF8.encode(descriptor)));
    this.id = hexEncode(h, 0, 16);
    const n = r.slots > 0 ? r.slots : 1;
    const h1 = <u64>load<u32>(h.dataStart), h2 = <u64>(load<u32>(h.dataStart + 4) | 1);
    const tries = n < SLOT_PROBES ? n : SLOT_PROBES;
    for (let j = 0; j < tries; j++) this.probes.push(<i32>((h1 + <u64>j * h2) % <u64>n));
  }
}

/** The shared-data key of slot i of a rule (i < 0: the overflow slot). */
export function slotKey(prefix: string, r: Rule, i: i32): string {
  return prefix + r.name + "#" + (i < 0 ? OVERFLOW_ID : i.toString());
}

/**
 * A counter slot as stored in shared data: "<id> <windowStart>:<used>". Only the slot's current
 * window is kept, so a slot's size is fixed (at most 32 + 1 + 20 + 1 + 20 bytes).
 */
export class Slot {
  constructor(public id: string, public window: i64, public used: i64) {}

  /** Parses a stored slot (window -1 and id "" when unreadable; used never negative). */
  static parse(s: string): Slot {
    const sp = s.indexOf(" ");
    const c = s.indexOf(":", sp + 1);
    if (sp <= 0 || c <= sp + 1) return new Slot("", -1, 0);
    const used = I64.parseInt(s.substring(c + 1));
    return new Slot(s.substring(0, sp), I64.parseInt(s.substring(sp + 1, c)), used < 0 ? 0 : used);
  }

  encode(): string { return this.id + " " + this.window.toString() + ":" + this.used.toString(); }
}
