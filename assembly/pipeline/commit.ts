// Response stage 3, commit: charge what the request actually cost. Local mode settles the
// reservation made at admission (returning or adding the difference); global mode debits the
// same descriptors the check used (the filter glue sends the gRPC call). Runs once per client
// request, at the end of the stream (on_log), downstream.

import { Rule, costOf } from "../limits/policy";
import { GlobalLimiter, LocalLimiter } from "../filter/limits";
import { ClientRequest } from "../providers/provider";
import { Usage } from "../usage";
import { Admit, factsOf } from "./admit";
import { Identity } from "./identify";

/** Local mode: settles the admitted reservation with the actual usage. */
export function commitLocal(limiter: LocalLimiter | null, admit: Admit, usage: Usage, now: i64): void {
  const adm = admit.admission;
  if (adm !== null && limiter !== null && adm.ok) limiter.commit(adm, usage, now);
}

/** Global mode: the RateLimitRequest that debits the actual cost (null: nothing to debit). */
export function globalDebit(global: GlobalLimiter | null, admit: Admit, id: Identity, req: ClientRequest | null, usage: Usage): Uint8Array | null {
  const adm = admit.admission;
  const rules: Rule[] = admit.globalRules;
  if (global === null || req === null || rules.length == 0 || (adm !== null && !adm.ok)) return null;
  const hits = new Array<i64>(rules.length);
  let any = false;
  for (let i = 0; i < hits.length; i++) { hits[i] = costOf(rules[i].cost, usage); if (hits[i] > 0) any = true; }
  return any ? global.encode(rules, factsOf(id, req), hits) : null;
}
