// A sample of the fuzz corpus replayed through real Envoy with the same oracle (issue 18 part 3).
// The fuzz targets (targets.ts: mutated client requests, mutated provider answers) run in the
// host as usual while harness.ts records every exchange they ask for; a seeded sample of those
// is then sent through Envoy with 2 workers and the shipped failure policy, under the soak's
// merged configuration (every fixture backend and route; the fuzz exchanges' own configurations
// are single fixtures of it), and each result goes through oracle.ts.

import { readFileSync } from "node:fs";
import { Gateway } from "../support/gateway.ts";
import { loadCases, GATEWAY_WASM } from "../providers/fixture-case.ts";
import { Hosts, Findings, recordExchanges, BUFFER_LIMIT, type RecordedExchange } from "./harness.ts";
import { REQUESTS, RESPONSES } from "./targets.ts";
import { rngFor } from "./prng.ts";
import { soakConfig } from "./soak-lib.ts";
import { PlannedUpstream, ExchangeClient, judgeExchange } from "./envoy-exchange.ts";

/** Longest one replayed exchange may take before the replay is declared stuck. */
const EXCHANGE_DEADLINE_MS = Number(process.env.FUZZ_ENVOY_DEADLINE_MS ?? 60_000);

export interface FuzzReplayResult {
  describe: string; recorded: number; replayed: number; ms: number;
  statuses: Record<string, number>; failedVmAnswers: number; vmFailures: string[]; problems: string[]; findings: number;
}

/** Records the exchanges of the requests and responses targets (seeded random inputs, no sweeps). */
export async function recordCorpus(seed: string, iterations: number): Promise<RecordedExchange[]> {
  const out: RecordedExchange[] = [];
  const hosts = new Hosts();
  recordExchanges((x) => out.push(x));
  try {
    for (const t of [REQUESTS, RESPONSES]) await t.run({ seed, iterations, sweeps: "none", cases: loadCases(), hosts, findings: new Findings(null) });
  } finally { recordExchanges(null); hosts.close(); }
  return out;
}

export async function replayInEnvoy(corpus: RecordedExchange[], n: number, seed: string): Promise<FuzzReplayResult> {
  const config = soakConfig(loadCases());
  // Only exchanges whose backend the merged configuration routes the same way.
  const rng = rngFor(seed, "fuzz-envoy", 0);
  const picked = corpus.length <= n ? corpus : Array.from({ length: n }, () => corpus[rng.int(corpus.length)]);
  const upstream = await PlannedUpstream.start();
  const clusters: Record<string, { host: string; port: number }> = {};
  for (const b of config.backends) {
    clusters[b.cluster] = { host: "127.0.0.1", port: upstream.port };
    if (b.auth?.token_cluster) clusters[b.auth.token_cluster] = { host: "127.0.0.1", port: upstream.port };
  }
  let failedVmAnswers = 0;
  const gw = await Gateway.start({
    platform: "envoy", wasm: readFileSync(GATEWAY_WASM), workers: 2, bufferLimitBytes: BUFFER_LIMIT,
    plugin: { configuration: JSON.stringify(config), vmId: `fuzz-${seed}`, failurePolicy: "FAIL_RELOAD" },
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters,
    accessLog: (e) => { if ((e.responseCodeDetails ?? "").startsWith("wasm_fail")) failedVmAnswers++; },
  });
  const client = new ExchangeClient(gw, upstream, 1);
  const res: FuzzReplayResult = { describe: gw.describe, recorded: corpus.length, replayed: 0, ms: 0, statuses: {}, failedVmAnswers: 0, vmFailures: [], problems: [], findings: 0 };
  const t0 = performance.now();
  try {
    // One at a time: the oracle checks the filter's request log line, which names no request.
    for (const x of picked) {
      const logFrom = gw.logs.length;
      // A replay that never settles fails the test at once instead of holding CI for its timeout.
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, no) => { timer = setTimeout(() => no(new Error(
        `exchange ${res.replayed + 1} (${x.req.path}) produced no outcome within ${EXCHANGE_DEADLINE_MS / 1000} s` + (process.env.FUZZ_ENVOY_DUMP ? ": " + JSON.stringify({ req: x.req, resp: x.resp, fault: x.clientFault, abort: x.abortAfter }).slice(0, 3000) : ""))), EXCHANGE_DEADLINE_MS); });
      const ex = await Promise.race([client.run(config, x.req, x.resp, { clientFault: x.clientFault, abortAfterParts: x.abortAfter }), stuck])
        .finally(() => clearTimeout(timer));
      res.replayed++;
      const unsendable = (ex.client.reset ?? "").startsWith("unsendable");
      const k = unsendable ? "unsendable" : x.abortAfter !== undefined ? "aborted" : String(ex.client.status || "reset");
      res.statuses[k] = (res.statuses[k] ?? 0) + 1;
      if (x.abortAfter !== undefined || unsendable) continue;
      const lines = () => gw.logs.slice(logFrom).filter((l) => l.origin === "wasm").map((l) => l.message);
      if (ex.endpoint.logged) for (let w = 0; w < 100 && !lines().some((l) => l.startsWith("ai-gateway: request ")); w++) await new Promise((ok) => setTimeout(ok, 5));
      ex.logLines = lines();
      // The merged configuration's tight per-second DeepSeek rule may deny (429), as in the soak.
      const p = judgeExchange(ex).filter((m) => !(ex.client.status === 429 && /answered a client fault with 429|the provider answered/.test(m)));
      if (p.length) { res.findings++; if (res.problems.length < 20) res.problems.push(`${x.req.path} → ${ex.client.status}: ${p.slice(0, 3).join("; ")}`); }
    }
    res.vmFailures = gw.vmFailures().slice(0, 10);
    res.failedVmAnswers = failedVmAnswers;
  } finally {
    res.ms = Math.round(performance.now() - t0);
    client.close();
    await gw.stop();
    await upstream.stop();
  }
  return res;
}
