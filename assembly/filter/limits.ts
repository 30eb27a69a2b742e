// Token limits at run time. Local mode: counters in proxy-wasm shared data, shared by every
// worker VM of the Envoy process (§5.7), in a fixed set of slots per rule (limits/policy.ts
// SlotPlan: shared-data keys cannot be deleted, so their number must not follow client input).
// Admission reserves the request's estimated cost with compare-and-swap; completion commits the
// actual cost (returning or adding the difference), so concurrent requests cannot all pass a
// check that costs nothing.
//
// A slot that does not exist yet is created through CAS too (createSlot), so two workers that
// meet a brand-new slot at the same instant cannot both create it and lose a reservation.

import { get_shared_data, set_shared_data, WasmResultValues } from "@solo-io/proxy-runtime/assembly";
import { LimitsConfig } from "../config/config";
import { Rule, RequestFacts, applies, costOf, descriptorKey, windowStart, Slot, SlotPlan, slotKey, OVERFLOW_ID } from "../limits/policy";
import { Usage } from "../usage";
import { RlsRequest, RlsDescriptor, RlsResponse, rateLimitRequestBytes, CODE_OVER_LIMIT, UNIT_SECOND, UNIT_MINUTE, UNIT_HOUR, UNIT_DAY } from "../limits/rls";

export class Reservation {
  /** `key` is the slot reserved in, `id` the id it is counted under there (the plan's, or the overflow's). */
  constructor(public rule: Rule, public plan: SlotPlan, public key: string, public id: string, public window: i64, public amount: i64) {}
}

/** The outcome of admission, and what the x-ratelimit-* headers report. */
export class Admission {
  ok: bool = true;
  reservations: Reservation[] = [];
  /** The most restrictive applicable rule (smallest remaining): its limit, remaining, reset. */
  rule: Rule | null = null;
  limit: i64 = 0;
  remaining: i64 = 0;
  resetSeconds: i64 = 0;
  /** On denial: tokens asked for and used so far under the denying rule. */
  requested: i64 = 0;
  used: i64 = 0;

  note(r: Rule, used: i64, now: i64): void {
    const remaining = r.limit - used;
    if (this.rule === null || remaining < this.remaining) {
      this.rule = r;
      this.limit = r.limit;
      this.remaining = remaining < 0 ? 0 : remaining;
      this.resetSeconds = windowStart(now, r.windowSeconds) + r.windowSeconds - now;
    }
  }
}

const PREFIX = "ai_gateway.lim.";
/**
 * A key every limiter rewrites just before it creates a slot: its fresh CAS value is one the slot
 * cannot carry (see createSlot).
 */
const STAMP_KEY = "ai_gateway.lim.~stamp";
const MAX_CAS_ATTEMPTS = 16;
/** addToSlot: the slot holds another descriptor in the current window. */
const NOT_MINE: i64 = i64.MIN_VALUE;

/**
 * Creates `key` with `value` only if it does not exist, in one host call. In Envoy (proxy-wasm
 * cpp-host src/shared_data.cc, SharedData::set) a set with cas 0 is unconditional, and a set on
 * a missing key creates it whatever the cas; on an existing key a non-zero cas must equal the
 * key's current CAS value. CAS values come from one counter for the whole process, each set
 * taking the next. So: write STAMP_KEY, read its CAS value back (a value just given to the stamp
 * and therefore to no other key), and set the slot with that cas: a missing slot is created,
 * and a slot another worker created in between answers CAS_MISMATCH instead of being
 * overwritten. (The counter is 32 bits: the stamp's value could recur only after 2^32 sets.)
 */
function createSlot(key: string, value: ArrayBuffer): WasmResultValues {
  set_shared_data(STAMP_KEY, new ArrayBuffer(0), 0);
  const st = get_shared_data(STAMP_KEY);
  if (st.result != WasmResultValues.Ok || st.cas == 0) return WasmResultValues.CasMismatch;
  return set_shared_data(key, value, st.cas);
}

/**
 * Adds delta to `id`'s counter in slot `key` for `window`, inside one compare-and-swap loop:
 * - the slot holds this id in an older window: the window starts at 0;
 * - the slot holds this id in a newer window (we are late: a reservation from a window that has
 *   ended): `lateDelta` is added to the newer window instead, never resetting it;
 * - the slot is missing, or holds another id whose window has ended: with `claim` it becomes
 *   this id's slot (window starting at 0), without it the answer is NOT_MINE;
 * - the slot holds another id in the current (or a newer) window: NOT_MINE.
 * With limit >= 0 the add is refused when it would exceed the limit: returns -2 - used.
 * Returns the used value after the add, or -1 when CAS kept failing.
 */
function addToSlot(key: string, id: string, window: i64, delta: i64, limit: i64, lateDelta: i64, claim: bool): i64 {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const sd = get_shared_data(key);
    const exists = sd.result == WasmResultValues.Ok;
    let w = window, used: i64 = 0, d = delta;
    if (exists) {
      const stored = Slot.parse(String.UTF8.decode(sd.value));
      if (stored.id == id) {
        if (stored.window == window) used = stored.used;
        else if (stored.window > window) { w = stored.window; used = stored.used; d = lateDelta; }
      } else if (!claim || stored.window >= window) return NOT_MINE;
    } else if (!claim) return NOT_MINE;
    if (limit >= 0 && used + d > limit) return -2 - used;
    let next = used + d;
    if (next < 0) next = 0;
    const value = String.UTF8.encode(new Slot(id, w, next).encode());
    const r = exists ? set_shared_data(key, value, sd.cas) : createSlot(key, value);
    if (r != WasmResultValues.CasMismatch) return next;
  }
  return -1;
}

/** Where one descriptor's counter lives this window, and the outcome of adding to it. */
class SlotAdd {
  constructor(public key: string, public result: i64) {}
}

/**
 * Adds delta to the descriptor's counter under rule r: in the slot that already holds it, else in
 * the first free candidate (policy.ts SlotPlan), else in the rule's overflow slot.
 */
function addToDescriptor(r: Rule, plan: SlotPlan, window: i64, delta: i64, limit: i64, lateDelta: i64): SlotAdd {
  for (let attempt = 0; attempt < 4; attempt++) {
    // Pass 1: the slot holding this id (any window), or the first claimable one. A slot that
    // was never created ends the search: the id was never placed beyond it.
    let free = "";
    let key = "";
    for (let j = 0; j < plan.probes.length; j++) {
      const k = slotKey(PREFIX, r, plan.probes[j]);
      const sd = get_shared_data(k);
      if (sd.result != WasmResultValues.Ok) { if (free.length == 0) free = k; break; }
      const stored = Slot.parse(String.UTF8.decode(sd.value));
      if (stored.id == plan.id) { key = k; break; }
      if (free.length == 0 && stored.window < window) free = k;
    }
    if (key.length == 0) key = free;
    if (key.length == 0) break;
    const res = addToSlot(key, plan.id, window, delta, limit, lateDelta, true);
    if (res != NOT_MINE) return new SlotAdd(key, res);
    // Another descriptor took the candidate between the two reads: look again.
  }
  const over = slotKey(PREFIX, r, -1);
  return new SlotAdd(over, addToSlot(over, OVERFLOW_ID, window, delta, limit, lateDelta, true));
}

export class LocalLimiter {
  constructor(public cfg: LimitsConfig) {}

  /** Reserves the estimated cost under every applicable rule, or denies (reserving nothing). */
  admit(f: RequestFacts, est: Usage, now: i64): Admission {
    const adm = new Admission();
    const rules = this.cfg.rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if (!applies(r, f)) continue;
      const plan = new SlotPlan(r, descriptorKey(r, f));
      const w = windowStart(now, r.windowSeconds);
      // An estimate larger than the whole limit reserves the whole limit: such a request is
      // admitted into an empty window rather than never.
      let amount = costOf(r.cost, est);
      if (amount > r.limit) amount = r.limit;
      const added = addToDescriptor(r, plan, w, amount, r.limit, 0);
      const after = added.result;
      if (after <= -2) {
        adm.ok = false;
        adm.rule = r;
        adm.limit = r.limit;
        adm.used = -2 - after;
        adm.remaining = r.limit - adm.used < 0 ? 0 : r.limit - adm.used;
        adm.requested = amount;
        adm.resetSeconds = w + r.windowSeconds - now;
        this.release(adm);
        return adm;
      }
      // -1: shared data kept failing CAS; admit without a reservation rather than block traffic.
      const id = added.key.endsWith("#" + OVERFLOW_ID) ? OVERFLOW_ID : plan.id;
      if (after >= 0) adm.reservations.push(new Reservation(r, plan, added.key, id, w, amount));
      adm.note(r, after >= 0 ? after : 0, now);
    }
    return adm;
  }

  /** Gives back every reservation of a denied or failed admission. */
  release(adm: Admission): void {
    const res = adm.reservations;
    for (let i = 0; i < res.length; i++) addToSlot(res[i].key, res[i].id, res[i].window, -res[i].amount, -1, 0, false);
    adm.reservations = [];
  }

  /** Replaces each reservation by the actual cost. A window that rolled over gets the full cost. */
  commit(adm: Admission, actual: Usage, now: i64): void {
    const res = adm.reservations;
    for (let i = 0; i < res.length; i++) {
      const rv = res[i];
      const cost = costOf(rv.rule.cost, actual);
      const current = windowStart(now, rv.rule.windowSeconds);
      // Same window: swap the estimate for the actual (the slot cannot have changed hands: a
      // slot is only taken over once its window has ended). Window since rolled over: the new
      // window gets the actual cost (the estimate vanished with the old window), in whatever
      // slot the descriptor has now.
      if (current == rv.window && addToSlot(rv.key, rv.id, rv.window, cost - rv.amount, -1, cost, false) != NOT_MINE) continue;
      if (cost <= 0) continue;
      if (addToSlot(rv.key, rv.id, current, cost, -1, cost, false) != NOT_MINE) continue;
      addToDescriptor(rv.rule, rv.plan, current, cost, -1, cost);
    }
    adm.reservations = [];
  }
}

// ---- Global mode: envoyproxy/ratelimit over proxy_grpc_call ----

/**
 * Check before, debit after (reference ratelimit-service.md §7): the check sends one descriptor
 * per applicable rule with the per-descriptor hits_addend wrapper set to 0 (counts nothing) and
 * denies on OVER_LIMIT or on a status whose limit is exhausted (remaining 0; a 0-hit check still
 * answers OK at used == limit); the debit sends the same descriptors with the actual cost.
 * Each descriptor carries the rule's limit as an override, so this configuration is the single
 * source of truth: the service only needs the domain in its own config.
 */
export class GlobalLimiter {
  constructor(public cfg: LimitsConfig) {}

  rulesFor(f: RequestFacts): Rule[] {
    const out = new Array<Rule>();
    for (let i = 0; i < this.cfg.rules.length; i++) if (applies(this.cfg.rules[i], f)) out.push(this.cfg.rules[i]);
    return out;
  }

  /** The request bytes for rules with hits (0 for a check), or null when there is nothing to send. */
  encode(rules: Rule[], f: RequestFacts, hits: i64[] | null): Uint8Array | null {
    if (rules.length == 0) return null;
    const req = new RlsRequest(this.cfg.domain);
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      const d = new RlsDescriptor();
      d.entry("rule", r.name);
      for (let k = 0; k < r.keys.length; k++) {
        const v = f.value(r.keys[k]);
        d.entry(r.keys[k], v.length ? v : "-");
      }
      d.limitOverride(<u32>r.limit, unitOf(r.unit));
      d.hits(hits === null ? 0 : <u64>(hits[i] > 0 ? hits[i] : 0));
      req.add(d);
    }
    return rateLimitRequestBytes(req);
  }

  /**
   * Reads a check answer into an Admission (ok, and the most restrictive status for headers).
   * Like the local reservation, a request is denied when what remains is less than its own
   * estimated cost (est), so one request cannot overshoot a limit; only concurrent requests can.
   */
  decide(rules: Rule[], res: RlsResponse, now: i64, est: Usage | null): Admission {
    const adm = new Admission();
    const n = res.statuses.length < rules.length ? res.statuses.length : rules.length;
    for (let i = 0; i < n; i++) {
      const st = res.statuses[i];
      const lim = st.currentLimit;
      if (lim === null) continue; // no limit matched this descriptor
      const r = rules[i];
      const limit = <i64>lim.requestsPerUnit;
      const remaining = <i64>st.limitRemaining;
      const reset = st.hasDurationUntilReset ? st.resetSeconds : windowStart(now, r.windowSeconds) + r.windowSeconds - now;
      let need = est !== null ? costOf(r.cost, est) : 0;
      if (need > limit) need = limit; // larger than the whole limit: admitted into an empty window only
      const denied = st.code == CODE_OVER_LIMIT || remaining == 0 || remaining < need;
      if (denied && adm.ok) {
        adm.ok = false;
        adm.rule = r; adm.limit = limit; adm.remaining = remaining; adm.resetSeconds = reset;
        adm.used = limit - remaining; adm.requested = need;
      } else if (adm.ok && (adm.rule === null || remaining < adm.remaining)) {
        adm.rule = r; adm.limit = limit; adm.remaining = remaining; adm.resetSeconds = reset;
      }
    }
    if (res.overLimit && adm.ok) {
      // Over limit overall without a status saying which: deny on the first rule.
      adm.ok = false;
      if (rules.length) { adm.rule = rules[0]; adm.limit = rules[0].limit; adm.remaining = 0; adm.resetSeconds = windowStart(now, rules[0].windowSeconds) + rules[0].windowSeconds - now; }
    }
    return adm;
  }
}

function unitOf(u: string): i32 {
  if (u == "second") return UNIT_SECOND;
  if (u == "hour") return UNIT_HOUR;
  if (u == "day") return UNIT_DAY;
  return UNIT_MINUTE;
}
