// Envoy's stats store as far as Wasm metrics reach it (sources: Envoy wasm stats; Envoy
// `source/extensions/common/wasm/context.cc` defineMetric/incrementMetric/recordMetric/getMetric,
// `source/server/admin/prometheus_stats.cc`). One store per gateway (= one Envoy process); all VMs
// of the gateway (workers, canary) write into it, so values aggregate across workers.

import { formatTags, type TagProducer } from "./tags.ts";

export const CUSTOM_STAT_NAMESPACE = "wasmcustom";

const U64 = (1n << 64n) - 1n;

/** Envoy's default histogram buckets (`supported_buckets` default), with Envoy's `{}` formatting. */
const BUCKETS: [number, string][] = [
  [0.5, "0.5"], [1, "1"], [5, "5"], [10, "10"], [25, "25"], [50, "50"], [100, "100"], [250, "250"],
  [500, "500"], [1000, "1000"], [2500, "2500"], [5000, "5000"], [10000, "10000"], [30000, "30000"],
  [60000, "60000"], [300000, "300000"], [600000, "600000"], [1800000, "1.8e+06"], [3600000, "3.6e+06"],
];

export class Counter {
  value = 0n;
  constructor(readonly name: string) {}
  add(n: bigint): void { this.value = (this.value + n) & U64; }
}

export class Gauge {
  value = 0n;
  constructor(readonly name: string) {}
  add(n: bigint): void { this.value = (this.value + n) & U64; }
  // Envoy gauges are uint64; subtracting below zero wraps in release builds (ASSERT in debug).
  sub(n: bigint): void { this.value = (this.value - n) & U64; }
  set(n: bigint): void { this.value = n & U64; }
}

export class Histogram {
  samples: number[] = [];
  constructor(readonly name: string) {}
  record(v: bigint): void { this.samples.push(Number(v)); }
}

export class StatsStore {
  readonly counters = new Map<string, Counter>();
  readonly gauges = new Map<string, Gauge>();
  readonly histograms = new Map<string, Histogram>();

  counter(name: string): Counter {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = new Counter(name)));
    return c;
  }
  gauge(name: string): Gauge {
    let g = this.gauges.get(name);
    if (!g) this.gauges.set(name, (g = new Gauge(name)));
    return g;
  }
  histogram(name: string): Histogram {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = new Histogram(name)));
    return h;
  }

  /** Counters and gauges by full Envoy name (e.g. "wasmcustom.foo"), like `/stats`. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.counters.values()) out[c.name] = Number(c.value);
    for (const g of this.gauges.values()) out[g.name] = Number(g.value);
    return out;
  }

  /**
   * `/stats/prometheus` rendering (sources: Envoy wasm stats): names in the `wasmcustom.` namespace lose the namespace and
   * get no `envoy_` prefix; other stats get `envoy_`. Characters outside [a-zA-Z0-9_] become `_`;
   * a custom name that then starts with a digit is dropped. With a TagProducer (the bootstrap's
   * `stats_tags`, tags.ts) the tag-extracted name is the metric name and the tags are labels, as
   * Envoy renders them; without one no tags are extracted. Output is grouped per metric with a
   * `# TYPE` line, sorted by name, and within a group by label text.
   */
  prometheus(producer?: TagProducer): string {
    type Row = { name: string; type: string; lines: [string, string[]][] };
    const rows = new Map<string, Row>();
    const put = (full: string, type: string, lines: (n: string, labels: string) => string[]) => {
      const t = producer ? producer.produceTags(full) : { extractedName: full, tags: [] };
      const name = prometheusName(t.extractedName);
      if (name === undefined) return;
      const key = `${name}\0${type}`;
      let row = rows.get(key);
      if (!row) rows.set(key, (row = { name, type, lines: [] }));
      const labels = formatTags(t.tags);
      row.lines.push([labels, lines(name, labels)]);
    };
    for (const c of this.counters.values()) put(c.name, "counter", (n, l) => [`${n}{${l}} ${c.value}`]);
    for (const g of this.gauges.values()) put(g.name, "gauge", (n, l) => [`${n}{${l}} ${g.value}`]);
    for (const h of this.histograms.values()) {
      put(h.name, "histogram", (n, l) => {
        const lines: string[] = [];
        const sep = l ? `${l},` : "";
        for (const [bound, label] of BUCKETS) {
          const count = h.samples.filter((s) => s <= bound).length;
          lines.push(`${n}_bucket{${sep}le="${label}"} ${count}`);
        }
        lines.push(`${n}_bucket{${sep}le="+Inf"} ${h.samples.length}`);
        lines.push(`${n}_sum{${l}} ${h.samples.reduce((a, b) => a + b, 0)}`);
        lines.push(`${n}_count{${l}} ${h.samples.length}`);
        return lines;
      });
    }
    const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const sorted = [...rows.values()].sort((a, b) => byText(a.name, b.name));
    return sorted.map((r) => `# TYPE ${r.name} ${r.type}\n${r.lines.sort((a, b) => byText(a[0], b[0])).flatMap((x) => x[1]).join("\n")}\n`).join("");
  }
}

/** sources: Envoy wasm stats: Prometheus metric name for an Envoy stat name, or undefined when Envoy drops it. */
export function prometheusName(full: string): string | undefined {
  const prefix = `${CUSTOM_STAT_NAMESPACE}.`;
  if (full.startsWith(prefix)) {
    const n = sanitize(full.slice(prefix.length));
    if (/^[0-9]/.test(n)) return undefined;
    return n;
  }
  return `envoy_${sanitize(full)}`;
}

function sanitize(s: string): string {
  return s.replace(/[^a-zA-Z0-9_]/g, "_");
}
