// Gateway metrics as Envoy stats (reference §6). The ABI has no tags, so tag values are encoded
// in the stat name and `envoy/stats-tags.yaml` (the bootstrap `stats_config.stats_tags`) turns
// them back into tags, i.e. Prometheus labels:
//
//   wasmcustom.<metric>[;<extra tag>=<value>…];gen_ai.provider.name=<p>;gen_ai.request.model=<m>;
//     ai_gateway.backend=<b>;ai_gateway.client=<c>;gen_ai.operation.name=<op>
//
// Every tag is `;<name>=<value>`; values are sanitized (tagValue) so they never contain `;` or
// `=`, which makes each regex `(;<name>=([^;]*))` unambiguous while keeping dots, slashes and
// colons of model names (`gpt-4.1`, `accounts/fireworks/models/x`, `…-v1:0`) intact. The name
// always ends with the operation tag (chat | embeddings): Envoy's default extractors anchored at
// the end of a name (`_rq_<code>$`, `_rq_<d>xx$`) can then never match a model or client value.
//
// Names follow the OpenTelemetry GenAI semantic conventions (v1.37.0 metrics and attributes:
// gen_ai.client.token.usage, gen_ai.client.operation.duration, gen_ai.server.time_to_first_token,
// gen_ai.provider.name, gen_ai.request.model, gen_ai.operation.name, gen_ai.token.type,
// error.type); token totals use the counters of the semantic-conventions-genai repository
// (gen_ai.client.inference.usage.*, development status); limits, errors, request counts and
// upstream latency are ours (ai_gateway.*). Envoy histograms hold integers: durations are in
// milliseconds (the conventions say seconds).
//
// Cardinality is bounded: clients are configured names (or, with client_header, at most
// MAX_CLIENTS distinct values per VM), models are request models that routed (else `unrouted`,
// at most MAX_MODELS per VM, then `other`). proxy_define_metric returns a new id on every call
// (§6), so each name is defined once per VM and its id cached in a Series.

import { define_metric, increment_metric, record_metric, MetricTypeValues, WasmResultValues } from "@solo-io/proxy-runtime/assembly";
import { Usage } from "../usage";
import { tagValue } from "../util/tags";

export const OP_CHAT: i32 = 0;
export const OP_EMBEDDINGS: i32 = 1;
const OP_NAMES: string[] = ["chat", "embeddings"];

export const LIMIT_NONE: i32 = 0;
export const LIMIT_OK: i32 = 1;
export const LIMIT_DENIED: i32 = 2;

const MAX_MODELS: i32 = 256;
const MAX_CLIENTS: i32 = 128;
const UNDEFINED: u32 = 0;
const FAILED: u32 = u32.MAX_VALUE;

/** Timestamps (monotonic ns, 0 = not reached) and outcome facts of one request. */
export class Observation {
  start: i64 = 0;
  /** The request left for the upstream (headers continued after routing, limits, credentials). */
  sent: i64 = 0;
  responseHeaders: i64 = 0;
  firstByte: i64 = 0;
  /** The response reached its end (end of stream seen by the filter). */
  ended: bool = false;
  /** Response details of a local reply the filter sent ("ai_gateway_<code>"). */
  localDetails: string = "";
  /** Usage already written to filter state. */
  usageStated: bool = false;
}

/** Metric ids of one label combination (operation, provider, model, backend, client). */
class Series {
  requests: u32 = UNDEFINED;
  duration: u32 = UNDEFINED;
  upstream: u32 = UNDEFINED;
  ttft: u32 = UNDEFINED;
  tokensIn: u32 = UNDEFINED;
  tokensOut: u32 = UNDEFINED;
  usageIn: u32 = UNDEFINED;
  usageOut: u32 = UNDEFINED;
  usageCacheRead: u32 = UNDEFINED;
  usageCacheWrite: u32 = UNDEFINED;
  usageReasoning: u32 = UNDEFINED;
  /** By "<error.type>;<status class>" (errors counter) and by error.type (duration histogram). */
  errors: Map<string, u32> = new Map();
  errorDurations: Map<string, u32> = new Map();
  /** By "<rule>;<decision>". */
  limits: Map<string, u32> = new Map();
  constructor(public labels: string) {}
}

class ModelEntry {
  /** Per client label: [chat, embeddings]. */
  clients: Map<string, StaticArray<Series | null>> = new Map();
  constructor(public label: string, public backend: i32) {}
}

function define(type: MetricTypeValues, name: string): u32 {
  const r = define_metric(type, name);
  return r.result == WasmResultValues.Ok ? r.metric_id : FAILED;
}

function ms(ns: i64): u64 { return ns <= 0 ? 0 : <u64>((ns + 500000) / 1000000); }

export class Metrics {
  private models: Map<string, ModelEntry> = new Map();
  private modelCount: i32 = 0;
  private unrouted: ModelEntry | null = null;
  private others: Map<i32, ModelEntry> = new Map();
  private clientLabels: Map<string, string> = new Map();
  private backendLabels: string[] = [];
  private providerLabels: string[] = [];

  /**
   * ai_gateway.vm.linear_memory_bytes: the wasm linear memory of every VM of this filter, summed
   * (each VM adds its own growth), so Envoy's admin stats show what the VMs hold. Linear memory
   * never shrinks; a VM that failed keeps its share in the sum.
   */
  private memoryGauge: u32 = UNDEFINED;
  private memoryPages: i32 = 0;

  /** `trustedClients`: client names come from a header (unbounded) rather than the configuration. */
  constructor(backendNames: string[], providerNames: string[], private trustedClients: bool) {
    this.memoryGauge = define(MetricTypeValues.Gauge, "ai_gateway.vm.linear_memory_bytes");
    this.noteMemory();
    for (let i = 0; i < backendNames.length; i++) {
      this.backendLabels.push(tagValue(backendNames[i]));
      this.providerLabels.push(tagValue(providerNames[i]));
    }
  }

  private clientLabel(client: string): string {
    if (client.length == 0 || client == "-") return "unknown";
    const labels = this.clientLabels;
    if (labels.has(client)) return labels.get(client);
    let label = tagValue(client);
    if (this.trustedClients && labels.size >= MAX_CLIENTS) return "other";
    labels.set(client, label);
    return label;
  }

  private series(op: i32, model: string | null, backend: i32, client: string): Series {
    let entry: ModelEntry | null = null;
    if (model === null) {
      entry = this.unrouted;
      if (entry === null) { entry = new ModelEntry("unrouted", -1); this.unrouted = entry; }
    } else if (this.models.has(model)) {
      entry = this.models.get(model);
    } else if (this.modelCount < MAX_MODELS) {
      entry = new ModelEntry(tagValue(model), backend);
      this.models.set(model, entry);
      this.modelCount++;
    } else {
      // Past the cap every further model of a backend shares one series: `other`.
      if (this.others.has(backend)) entry = this.others.get(backend);
      else { entry = new ModelEntry("other", backend); this.others.set(backend, entry); }
    }
    const cl = this.clientLabel(client);
    let pair: StaticArray<Series | null>;
    const e = entry!;
    if (e.clients.has(cl)) pair = e.clients.get(cl);
    else { pair = new StaticArray<Series | null>(2); e.clients.set(cl, pair); }
    const o = op == OP_EMBEDDINGS ? 1 : 0;
    let s = pair[o];
    if (s === null) {
      const b = e.backend;
      const provider = b >= 0 && b < this.providerLabels.length ? this.providerLabels[b] : "none";
      const backendLabel = b >= 0 && b < this.backendLabels.length ? this.backendLabels[b] : "none";
      s = new Series(";gen_ai.provider.name=" + provider + ";gen_ai.request.model=" + e.label +
        ";ai_gateway.backend=" + backendLabel + ";ai_gateway.client=" + cl + ";gen_ai.operation.name=" + OP_NAMES[o]);
      pair[o] = s;
    }
    return s!;
  }

  /**
   * Records one finished request (from on_log). `status` is what the client got, `local` whether
   * the filter answered it itself, `usage` the provider's report (null: none).
   */
  /** Adds this VM's linear memory growth since the last call to the gauge (one compare per request). */
  noteMemory(): void {
    const pages = <i32>memory.size();
    if (pages == this.memoryPages) return;
    add(this.memoryGauge, <i64>(pages - this.memoryPages) << 16);
    this.memoryPages = pages;
  }

  finish(o: Observation, now: i64, op: i32, model: string | null, backend: i32, client: string, status: i32, local: bool,
    usage: Usage | null, limit: i32, rule: string, stream: bool): void {
    this.noteMemory();
    const s = this.series(op, model, backend, client);
    if (s.requests == UNDEFINED) s.requests = define(MetricTypeValues.Counter, "ai_gateway.requests" + s.labels);
    add(s.requests, 1);

    let errorType = "";
    if (local && status >= 400) errorType = o.localDetails.startsWith("ai_gateway_") ? o.localDetails.substring(11) : "local_reply";
    else if (status >= 400) errorType = status.toString();
    else if (!o.ended) errorType = "incomplete";
    if (errorType.length) {
      const cls = status >= 100 && status < 600 ? (status / 100).toString() + "xx" : "none";
      const k = errorType + ";" + cls;
      let id = s.errors.has(k) ? s.errors.get(k) : UNDEFINED;
      if (id == UNDEFINED) {
        id = define(MetricTypeValues.Counter, "ai_gateway.errors;error.type=" + tagValue(errorType) + ";ai_gateway.status_class=" + cls + s.labels);
        s.errors.set(k, id);
      }
      add(id, 1);
    }

    if (limit != LIMIT_NONE) {
      const decision = limit == LIMIT_OK ? "ok" : "denied";
      const k = rule + ";" + decision;
      let id = s.limits.has(k) ? s.limits.get(k) : UNDEFINED;
      if (id == UNDEFINED) {
        id = define(MetricTypeValues.Counter, "ai_gateway.limit.decisions;ai_gateway.limit.rule=" + tagValue(rule) +
          ";ai_gateway.limit.decision=" + decision + s.labels);
        s.limits.set(k, id);
      }
      add(id, 1);
    }

    if (usage !== null && usage.reported) {
      if (s.tokensIn == UNDEFINED) {
        s.tokensIn = define(MetricTypeValues.Histogram, "gen_ai.client.token.usage;gen_ai.token.type=input" + s.labels);
        s.tokensOut = define(MetricTypeValues.Histogram, "gen_ai.client.token.usage;gen_ai.token.type=output" + s.labels);
      }
      record(s.tokensIn, <u64>(usage.input > 0 ? usage.input : 0));
      record(s.tokensOut, <u64>(usage.output > 0 ? usage.output : 0));
      if (usage.input > 0) {
        if (s.usageIn == UNDEFINED) s.usageIn = define(MetricTypeValues.Counter, "gen_ai.client.inference.usage.input_tokens" + s.labels);
        add(s.usageIn, usage.input);
      }
      if (usage.output > 0) {
        if (s.usageOut == UNDEFINED) s.usageOut = define(MetricTypeValues.Counter, "gen_ai.client.inference.usage.output_tokens" + s.labels);
        add(s.usageOut, usage.output);
      }
      if (usage.cachedInput > 0) {
        if (s.usageCacheRead == UNDEFINED) s.usageCacheRead = define(MetricTypeValues.Counter, "gen_ai.client.inference.usage.cache_read.input_tokens" + s.labels);
        add(s.usageCacheRead, usage.cachedInput);
      }
      if (usage.cacheWrite > 0) {
        if (s.usageCacheWrite == UNDEFINED) s.usageCacheWrite = define(MetricTypeValues.Counter, "gen_ai.client.inference.usage.cache_write.input_tokens" + s.labels);
        add(s.usageCacheWrite, usage.cacheWrite);
      }
      if (usage.reasoning > 0) {
        if (s.usageReasoning == UNDEFINED) s.usageReasoning = define(MetricTypeValues.Counter, "gen_ai.client.inference.usage.reasoning.output_tokens" + s.labels);
        add(s.usageReasoning, usage.reasoning);
      }
    }

    if (o.start > 0 && now > 0) {
      let id: u32;
      if (errorType.length == 0) {
        if (s.duration == UNDEFINED) s.duration = define(MetricTypeValues.Histogram, "gen_ai.client.operation.duration" + s.labels);
        id = s.duration;
      } else {
        id = s.errorDurations.has(errorType) ? s.errorDurations.get(errorType) : UNDEFINED;
        if (id == UNDEFINED) {
          id = define(MetricTypeValues.Histogram, "gen_ai.client.operation.duration;error.type=" + tagValue(errorType) + s.labels);
          s.errorDurations.set(errorType, id);
        }
      }
      record(id, ms(now - o.start));
    }
    if (o.sent > 0 && o.responseHeaders >= o.sent) {
      if (s.upstream == UNDEFINED) s.upstream = define(MetricTypeValues.Histogram, "ai_gateway.upstream.latency" + s.labels);
      record(s.upstream, ms(o.responseHeaders - o.sent));
    }
    if (stream && status >= 200 && status < 300 && o.sent > 0 && o.firstByte >= o.sent) {
      if (s.ttft == UNDEFINED) s.ttft = define(MetricTypeValues.Histogram, "gen_ai.server.time_to_first_token" + s.labels);
      record(s.ttft, ms(o.firstByte - o.sent));
    }
  }
}

function add(id: u32, n: i64): void {
  if (id != FAILED && id != UNDEFINED && n > 0) increment_metric(id, n);
}

function record(id: u32, v: u64): void {
  if (id != FAILED && id != UNDEFINED) record_metric(id, v);
}
