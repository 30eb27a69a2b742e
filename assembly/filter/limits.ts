// Token limits at run time. Local mode: one counter slot per descriptor in proxy-wasm shared
// data, shared by every worker VM of the Envoy process (§5.7). Admission reserves the request's
// estimated cost with compare-and-swap; completion commits the actual cost (returning or adding
// the difference), so concurrent requests cannot all pass a check that costs nothing.
//
// Known bound: the ABI has no atomic "create if absent" for shared data, so when two workers
// create the slot of a brand-new descriptor at the same instant one reservation can be lost
// (once per descriptor, at most one request's estimate per concurrent worker).

import { get_shared_data, set_shared_data, WasmResultValues } from "@solo-io/proxy-runtime/assembly";
import { LimitsConfig } from "../config/config";
import { Rule, RequestFacts, applies, costOf, descriptorKey, windowStart, Counter } from "../limits/policy";
import { Usage } from "../usage";

export class Reservation {
  constructor(public rule: Rule, public key: string, public window: i64, public amount: i64) {}
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
const MAX_CAS_ATTEMPTS = 16;

/**
 * Adds delta to the counter slot `key` for `window`, inside one compare-and-swap loop:
 * - the slot holds an older window (or nothing): the window starts at 0;
 * - the slot holds a newer window (we are late: a reservation from a window that has ended):
 *   `lateDelta` is added to the newer window instead, never resetting it.
 * With limit >= 0 the add is refused when it would exceed the limit: returns -2 - used.
 * Returns the used value after the add, or -1 when CAS kept failing.
 */
function addTo(key: string, window: i64, delta: i64, limit: i64, lateDelta: i64): i64 {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const sd = get_shared_data(key);
    let cas: u32 = 0;
    let w = window, used: i64 = 0, d = delta;
    if (sd.result == WasmResultValues.Ok) {
      cas = sd.cas;
      const s = String.UTF8.decode(sd.value);
      const c = s.indexOf(":");
      const w0 = c > 0 ? I64.parseInt(s.substring(0, c)) : -1;
      if (w0 == window) used = I64.parseInt(s.substring(c + 1));
      else if (w0 > window) { w = w0; used = I64.parseInt(s.substring(c + 1)); d = lateDelta; }
      if (used < 0) used = 0;
    }
    if (limit >= 0 && used + d > limit) return -2 - used;
    let next = used + d;
    if (next < 0) next = 0;
    if (set_shared_data(key, String.UTF8.encode(new Counter(w, next).encode()), cas) != WasmResultValues.CasMismatch) return next;
  }
  return -1;
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
      const key = PREFIX + descriptorKey(r, f);
      const w = windowStart(now, r.windowSeconds);
      const amount = costOf(r.cost, est);
      const after = addTo(key, w, amount, r.limit, 0);
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
      if (after >= 0) adm.reservations.push(new Reservation(r, key, w, amount));
      adm.note(r, after >= 0 ? after : 0, now);
    }
    return adm;
  }

  /** Gives back every reservation of a denied or failed admission. */
  release(adm: Admission): void {
    const res = adm.reservations;
    for (let i = 0; i < res.length; i++) addTo(res[i].key, res[i].window, -res[i].amount, -1, 0);
    adm.reservations = [];
  }

  /** Replaces each reservation by the actual cost. A window that rolled over gets the full cost. */
  commit(adm: Admission, actual: Usage, now: i64): void {
    const res = adm.reservations;
    for (let i = 0; i < res.length; i++) {
      const rv = res[i];
      const cost = costOf(rv.rule.cost, actual);
      // Same window: swap the estimate for the actual. Window since rolled over: the new window
      // gets the actual cost (the estimate vanished with the old window).
      addTo(rv.key, rv.window, cost - rv.amount, -1, cost);
    }
    adm.reservations = [];
  }
}
