// Hostile key values against local limits in real Envoy with 2 workers (issue 18 part 1): a flood
// of requests, each with its own x-user header value and its own gpt-<…> model name, under two
// rules keyed on them (default max_keys, 1000). Envoy's heap (admin stat server.memory_allocated,
// where shared data lives), its RSS and the filter VMs' linear memory are sampled along the way;
// after warm-up (the first 10%: the slots fill) they must stay within the bound docs/design.md
// states (2 rules × 1001 slots of ~250 bytes: under 1 MiB) plus allocator noise, and the limits
// of the legitimate keys (bounded.ts) still hold exactly.
//
//   BOUNDED_FLOOD=N   distinct values (default 20,000; docs/robustness.md has the 1,000,000 run)

import { test } from "node:test";
import assert from "node:assert/strict";
import { Gateway } from "../support/gateway.ts";
import { MockProvider } from "../../dev/mock-provider.ts";
import { Client, memorySample, mib, type MemorySample } from "../support/envoy-load.ts";
import { boundedConfig, okAnswer, legitBefore, legitAfter } from "./bounded.ts";
import { GATEWAY_WASM } from "./support.ts";

const FLOOD = Number(process.env.BOUNDED_FLOOD ?? 20_000);
const SOCKETS = 32;
/** Growth allowed after warm-up: the slots' bound (< 1 MiB) plus allocator and stats noise. */
const HEAP_GROWTH_MAX = 2 * 1048576;
const RSS_GROWTH_MAX = 16 * 1048576;

test(`real Envoy, 2 workers: ${FLOOD} distinct header values and model names keep Envoy's memory flat; legitimate limits exact`, { timeout: 3_600_000 }, async () => {
  const mock = await MockProvider.start();
  mock.register(okAnswer());
  const gw = await Gateway.start({
    platform: "envoy", wasm: GATEWAY_WASM, workers: 2,
    plugin: { configuration: JSON.stringify(boundedConfig(1000)), vmId: "bounded" },
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: { openai: { host: "127.0.0.1", port: mock.port } },
  });
  const client = new Client(gw, SOCKETS);
  try {
    await legitBefore(gw as any);
    const t0 = performance.now();
    const samples: MemorySample[] = [await memorySample(gw, 0, t0)];
    const every = Math.max(500, Math.round(FLOOD / 40));
    const statuses = new Map<number, number>();
    let next = 0;
    const tag = Date.now().toString(36);
    const lane = async () => {
      while (next < FLOOD) {
        const i = next++;
        const a = await client.chat({ model: `gpt-${tag}-${i.toString(36)}`, messages: [{ role: "user", content: "hi" }], max_tokens: 1 }, { "x-user": `u-${tag}-${i.toString(36)}` });
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        if ((i + 1) % every === 0) {
          const s = await memorySample(gw, i + 1, t0);
          samples.push(s);
          if ((i + 1) % (every * 10) === 0) console.log(`#   ${s.requests} requests, ${(s.ms / 1000).toFixed(0)} s: RSS ${mib(s.rssBytes)}, heap ${mib(s.heapBytes)}, VMs ${mib(s.vmBytes)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: SOCKETS }, lane));
    samples.push(await memorySample(gw, FLOOD, t0));
    const warm = samples.find((s) => s.requests >= FLOOD * 0.1)!;
    const end = samples[samples.length - 1];
    const peak = (f: (s: MemorySample) => number) => Math.max(...samples.filter((s) => s.requests >= warm.requests).map(f));
    const summary = `${gw.describe}: ${FLOOD} distinct values in ${(end.ms / 1000).toFixed(1)} s, statuses ${JSON.stringify([...statuses])}; ` +
      `after warm-up → end (peak): heap ${mib(warm.heapBytes)} → ${mib(end.heapBytes)} (${mib(peak((s) => s.heapBytes))}), ` +
      `RSS ${mib(warm.rssBytes)} → ${mib(end.rssBytes)} (${mib(peak((s) => s.rssBytes))}), VMs ${mib(warm.vmBytes)} → ${mib(end.vmBytes)}`;
    console.log(`# ${summary}`);
    if (process.env.BOUNDED_CSV) {
      const { writeFileSync } = await import("node:fs");
      writeFileSync(process.env.BOUNDED_CSV, ["requests,elapsed_ms,rss_bytes,heap_bytes,vm_linear_memory_bytes", ...samples.map((s) => [s.requests, s.ms, s.rssBytes, s.heapBytes, s.vmBytes].join(","))].join("\n") + "\n");
    }
    assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 429), [], "only admissions and denials");
    assert.ok(peak((s) => s.heapBytes) - warm.heapBytes <= HEAP_GROWTH_MAX, `Envoy's heap grew after warm-up: ${summary}`);
    assert.ok(peak((s) => s.rssBytes) - warm.rssBytes <= RSS_GROWTH_MAX, `Envoy's RSS grew after warm-up: ${summary}`);
    if (warm.vmBytes >= 0) assert.equal(end.vmBytes, warm.vmBytes, `the VMs' linear memory grew after warm-up: ${summary}`);
    await legitAfter(gw as any);
    assert.deepEqual(gw.vmFailures(), []);
  } finally {
    client.close();
    await gw.stop();
    await mock.stop();
  }
});
