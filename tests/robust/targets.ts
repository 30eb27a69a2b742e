// The fuzz targets: client requests, provider answers, plugin configurations. Each has systematic
// sweeps (every byte, every path × every other JSON type, every status…) and seeded random
// mutations; both feed the real filter through the harness and check every exchange against
// oracle.ts. Inputs come from the fixture cases (tests/fixtures/providers/*/*): every endpoint,
// every backend schema of the fixture configurations, every provider answer; a new provider's
// fixtures join the run without a change here.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ProviderCase } from "../providers/fixture-case.ts";
import { LoadError } from "../host/plugin-host.ts";
import { Rng, rngFor } from "./prng.ts";
import {
  mutateJson, mutateBytes, retypeSweep, truncationSweep, serialize, replaceAt, getAt, paths, raw, nested, badString, randomJson,
  NUMBER_TOKENS, BAD_STRING_BYTES, JSON_TYPES, typeOf, valueOfType, dropAt, Dup, type Json, type Mutant,
} from "./mutate.ts";
import { framingFor, esFrames, esParts, esFrame } from "./framings.ts";
import {
  Hosts, Findings, runExchange, caseResponse, caseRequest, genericErrorResponse, MAX_RESPONSE_BYTES, ROOT,
  type RequestSpec, type ResponseSpec,
} from "./harness.ts";
import { ENDPOINTS } from "./oracle.ts";

export interface TargetContext {
  seed: string;
  /** Random iterations for this target. */
  iterations: number;
  /** Systematic sweeps: "all", a per-case sample size, or none. */
  sweeps: "all" | number | "none";
  cases: ProviderCase[];
  hosts: Hosts;
  findings: Findings;
  /** Only this iteration (reproduction); sweeps are skipped. */
  only?: number | string;
  progress?: (msg: string) => void;
}

export interface TargetStats { target: string; inputs: number; exchanges: number; traps: number; findings: number; ms: number; detail: Record<string, number> }

export interface Target {
  name: string;
  description: string;
  run(ctx: TargetContext): Promise<TargetStats>;
}

/** Up to `n` items of a generator, spread evenly (deterministic), or all. */
function* sample<T>(gen: Iterable<T>, n: "all" | number | "none", rng: Rng): Generator<T> {
  if (n === "none") return;
  const all = [...gen];
  if (n === "all" || all.length <= n) { yield* all; return; }
  const picked = new Set<number>();
  while (picked.size < n) picked.add(rng.int(all.length));
  for (const i of [...picked].sort((a, b) => a - b)) yield all[i];
}

class Counter {
  inputs = 0; exchanges = 0; traps = 0; findings = 0;
  detail: Record<string, number> = {};
  t0 = performance.now();
  note(k: string) { this.detail[k] = (this.detail[k] ?? 0) + 1; }
  stats(target: string): TargetStats { return { target, inputs: this.inputs, exchanges: this.exchanges, traps: this.traps, findings: this.findings, ms: performance.now() - this.t0, detail: this.detail }; }
}

/**
 * The fixture request parsed, or undefined for the cases whose request is deliberately not JSON
 * (the gateway's 400, e.g. anthropic/messages-gateway-bad-json): those are mutated as bytes.
 */
function parsed(c: ProviderCase): Json | undefined {
  try { return JSON.parse(c.requestBytes.toString("utf8")); } catch { return undefined; }
}

// ============================================================================== client requests

const CONTENT_TYPES = [null, "text/plain", "application/json; charset=utf-8", "APPLICATION/JSON", "application/jsonx", "multipart/form-data; boundary=x", "", "application/json\u0000"];
const CONTENT_LENGTHS = [null, "0", "-1", "abc", "99999999999999999999", "1099511627776", "1", "18446744073709551616", " 12", "1e3"];
const METHODS = ["GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "post", "CONNECT"];
const PATHS = (model: string) => [
  "/v1/chat/completions?x=1", "/v1/chat/completions/", "/V1/CHAT/COMPLETIONS", `/v1/models/${model}`, "/v1/models/%00", "//v1/chat/completions",
  "/v1/" + "a".repeat(8192), "/v1/embeddings", "/embeddings", "/chat/completions", "/v1/models", "/models", "/v1/models/", "/v1/messages", "/messages", "/v1/messages/count_tokens", "/V1/MESSAGES", "*", "/v1/chat/completions#x",
];

function headerMutation(rng: Rng, c: ProviderCase, req: RequestSpec): string {
  const which = rng.int(6);
  const h = (req.headers ??= {});
  switch (which) {
    case 0: { const v = rng.pick(CONTENT_TYPES); h["content-type"] = v; return `content-type ${JSON.stringify(v)}`; }
    case 1: { const v = rng.pick(CONTENT_LENGTHS); h["content-length"] = v; return `content-length ${JSON.stringify(v)}`; }
    case 2: { req.method = rng.pick(METHODS); return `method ${req.method}`; }
    case 3: { req.path = rng.pick(PATHS(String((c.request as any)?.model ?? "m"))); return `path ${req.path.slice(0, 60)}`; }
    case 4: { h["x-ai-gateway-cluster"] = "attacker"; h["authorization"] = rng.pick(["Bearer ", "Basic x", "Bearer " + "k".repeat(5000), ""]); return "client sets the route header and an odd authorization"; }
    default: { req.noBody = true; return "no body (end of stream on the headers)"; }
  }
}

/** Systematic request mutations of one case. */
function* requestSweep(c: ProviderCase): Generator<Mutant> {
  const parsedDoc = parsed(c);
  yield* truncationSweep(c.requestBytes);
  if (parsedDoc === undefined) {
    // Not JSON to begin with: its bytes as they are, then framed by every JSON type as the body.
    yield { label: "the fixture's non-JSON bytes as they are", bytes: c.requestBytes };
    for (const wrap of ["[%]", '{"model":%}', '"%"', "{%}"]) yield { label: `non-JSON bytes inside ${wrap}`, bytes: Buffer.from(wrap.replace("%", c.requestBytes.toString("latin1")), "latin1") };
    return;
  }
  const doc: Json = parsedDoc;
  yield* retypeSweep(doc);
  const all = paths(doc);
  // Numbers JavaScript cannot hold, at every numeric path and at the numeric fields the filter reads.
  const numeric = all.filter((p) => typeof getAt(doc, p) === "number");
  for (const f of ["max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "seed", "stream"]) if (!numeric.some((p) => p.length === 1 && p[0] === f)) numeric.push([f]);
  for (const p of numeric) for (const tok of NUMBER_TOKENS) {
    const v = p.length === 1 && getAt(doc, p) === undefined ? { ...(doc as any), [p[0]]: raw(tok) } : replaceAt(doc, p, () => raw(tok));
    yield { label: `number ${tok.slice(0, 20)}${tok.length > 20 ? "…" : ""} at /${p.join("/")}`, bytes: serialize(v) };
  }
  // Malformed UTF-8 / escapes in every string.
  let k = 0;
  for (const p of all.filter((q) => typeof getAt(doc, q) === "string")) {
    for (let j = 0; j < 4; j++) {
      const bad = BAD_STRING_BYTES[(k++) % BAD_STRING_BYTES.length];
      const s: string = getAt(doc, p);
      yield { label: `bad string bytes ${bad.toString("hex")} in /${p.join("/")}`, bytes: serialize(replaceAt(doc, p, () => badString(s, bad, j === 0 ? 0 : j === 1 ? s.length : s.length >> 1))) };
    }
  }
  // Deep nesting: 10k levels at the root and inside every top-level member.
  for (const kind of ["array", "object", "mixed"] as const) yield { label: `10000 levels of ${kind} nesting as the body`, bytes: nested(10000, Buffer.from("1"), kind).bytes };
  for (const key of Object.keys(doc as object)) {
    yield { label: `10000 levels of nesting in /${key}`, bytes: serialize(replaceAt(doc, [key], (old) => nested(10000, serialize(old), "mixed"))) };
    yield { label: `129 levels of nesting in /${key}`, bytes: serialize(replaceAt(doc, [key], (old) => nested(129, serialize(old), "array"))) };
  }
  // Duplicate keys: every top-level key again with another type, before and after.
  for (const [key, val] of Object.entries(doc as object)) {
    for (const t of JSON_TYPES.filter((t) => t !== typeOf(val))) {
      const entries = Object.entries(doc as object) as [string, Json][];
      yield { label: `duplicate ${key} (${t}) after`, bytes: serialize(new Dup([...entries, [key, valueOfType(t)]])) };
      yield { label: `duplicate ${key} (${t}) before`, bytes: serialize(new Dup([[key, valueOfType(t)], ...entries])) };
    }
  }
  // Huge strings around the 1 MiB request limit, in the first message.
  const content = all.find((p) => typeof getAt(doc, p) === "string" && p.includes("content"));
  if (content) for (const n of [(1 << 20) - 300, (1 << 20) + 1, 4 << 20]) yield { label: `~${n}-byte string at /${content.join("/")}`, bytes: serialize(replaceAt(doc, content, () => "y".repeat(n))) };
}

function requestOf(c: ProviderCase, m: Mutant, path = c.endpoint): RequestSpec {
  return caseRequest(c, m.bytes, path);
}

function forwardAnswer(c: ProviderCase): ResponseSpec { return caseResponse(c) ?? genericErrorResponse(); }

async function oneRequest(ctx: TargetContext, cnt: Counter, target: string, iteration: number | string, c: ProviderCase, label: string, req: RequestSpec): Promise<void> {
  const host = await ctx.hosts.get(c.configText);
  cnt.inputs++; cnt.exchanges++;
  const r = runExchange(host, c.config, req, forwardAnswer(c), { clientFault: true });
  cnt.note(r.exchange.upstream ? "forwarded" : `answered ${r.exchange.client.status}`);
  if (r.trapped) cnt.traps++;
  if (r.problems.length) {
    cnt.findings++;
    ctx.findings.add({ target, seed: ctx.seed, iteration, label, caseId: c.id, problems: r.problems }, { request: req, response: forwardAnswer(c), config: c.configText });
  }
}

export const REQUESTS: Target = {
  name: "requests",
  description: "client request bodies and headers, mutated from the fixture requests, on every endpoint",
  async run(ctx) {
    const cnt = new Counter();
    const cases = ctx.cases;
    if (ctx.only === undefined) {
      for (const c of cases) {
        let i = 0;
        for (const m of sample(requestSweep(c), ctx.sweeps, rngFor(ctx.seed, "requests-sweep", c.id))) {
          await oneRequest(ctx, cnt, "requests", `sweep:${c.id}:${i++}`, c, m.label, requestOf(c, m));
        }
      }
      ctx.progress?.(`requests: sweeps done (${cnt.exchanges} exchanges)`);
    }
    for (let it = 0; it < ctx.iterations; it++) {
      if (ctx.only !== undefined && String(ctx.only) !== String(it)) continue;
      const rng = rngFor(ctx.seed, "requests", it);
      const c = rng.pick(cases);
      const doc = parsed(c);
      const kind = rng.weighted([[60, "json"], [20, "bytes"], [6, "json+bytes"], [4, "random-doc"], [10, "headers"]] as const);
      let m: Mutant;
      if (kind === "json" && doc !== undefined) m = mutateJson(rng, doc);
      else if (kind === "bytes" || kind === "json") m = mutateBytes(rng, c.requestBytes);
      else if (kind === "json+bytes") { const a = doc !== undefined ? mutateJson(rng, doc) : { label: "", bytes: c.requestBytes }; const b = mutateBytes(rng, a.bytes); m = { label: `${a.label}; ${b.label}`, bytes: b.bytes }; }
      else if (kind === "random-doc") { const v = randomJson(rng); m = { label: "random JSON document", bytes: serialize(v) }; }
      else m = { label: "", bytes: c.requestBytes };
      const ep = rng.bool(0.8) ? c.endpoint : rng.pick(ENDPOINTS).path;
      const req = requestOf(c, m, ep);
      let label = `${kind}: ${m.label}${ep !== c.endpoint ? ` on ${ep}` : ""}`;
      if (kind === "headers" || rng.bool(0.05)) label += `; ${headerMutation(rng, c, req)}`;
      if (rng.bool(0.3) && req.body.length > 1) { req.cuts = rng.cuts(req.body.length, rng.range(2, 8)); label += `; body in ${req.cuts.length + 1} frames`; }
      await oneRequest(ctx, cnt, "requests", it, c, label, req);
      if (it % 5000 === 4999) ctx.progress?.(`requests: ${it + 1}/${ctx.iterations}`);
    }
    return cnt.stats("requests");
  },
};

// =========================================================================== provider answers

const STATUSES = [200, 201, 204, 206, 301, 400, 401, 403, 404, 408, 413, 422, 429, 499, 500, 502, 503, 504, 529, 599];
const CONTENT_TYPE_SWAPS = ["application/json", "text/event-stream", "", "application/json; charset=utf-8", "TEXT/EVENT-STREAM; charset=utf-8", "text/html", "application/vnd.amazon.eventstream"];

function withContentType(r: ResponseSpec, ct: string): ResponseSpec {
  const headers = r.headers.filter(([k]) => k !== "content-type");
  if (ct) headers.push(["content-type", ct]);
  return { ...r, headers };
}

function withBody(r: ResponseSpec, body: Buffer): ResponseSpec {
  return { ...r, body, headers: r.headers.map(([k, v]) => (k === "content-length" ? [k, String(body.length)] : [k, v]) as [string, string]) };
}

/** A provider body parsed as JSON (an empty body as null), or undefined when it is not JSON. */
function bodyJson(body: Buffer): Json | undefined {
  try { return JSON.parse(body.toString("utf8") || "null"); } catch { return undefined; }
}

/**
 * Parsed JSON of each event of a stream body (or of the whole JSON body), with a way to put a
 * mutated one back: SSE `data:` payloads; AWS eventstream frame payloads (CRCs recomputed) and,
 * inside InvokeModelWithResponseStream `chunk` frames, the base64 Messages event itself.
 */
function eventDocs(c: ProviderCase): { doc: Json; rebuild: (bytes: Buffer) => Buffer; where: string }[] {
  const r = c.response!;
  const out: { doc: Json; rebuild: (bytes: Buffer) => Buffer; where: string }[] = [];
  if (!r.isStream) {
    try { out.push({ doc: JSON.parse(r.body.toString("utf8")), rebuild: (b) => b, where: "body" }); } catch { /* not JSON */ }
    return out;
  }
  const framing = framingFor(String(Object.entries(r.headers).find(([k]) => k.toLowerCase() === "content-type")?.[1] ?? ""));
  if (framing?.name === "aws-eventstream") {
    const frames = esFrames(r.body);
    frames.forEach((f, k) => {
      const parts = esParts(f);
      if (!parts) return;
      let doc: Json;
      try { doc = JSON.parse(parts.payload.toString("utf8")); } catch { return; }
      const put = (payload: Buffer) => Buffer.concat([...frames.slice(0, k), esFrame(parts.headers, payload), ...frames.slice(k + 1)]);
      out.push({ doc, where: `frame ${k}`, rebuild: put });
      const inner = doc && typeof doc === "object" && !Array.isArray(doc) && typeof (doc as any).bytes === "string" ? Buffer.from((doc as any).bytes, "base64") : null;
      if (!inner) return;
      let event: Json;
      try { event = JSON.parse(inner.toString("utf8")); } catch { return; }
      out.push({ doc: event, where: `frame ${k} chunk`, rebuild: (b) => put(serialize({ ...(doc as object), bytes: b.toString("base64") } as Json)) });
    });
    return out;
  }
  if (!framing || framing.name !== "sse") return out;
  const evs = framing.events(r.body);
  evs.forEach((ev, k) => {
    const m = /^((?:event:[^\n]*\n)?)data: ?(.*?)(\n\n)$/s.exec(ev.toString("utf8"));
    if (!m) return;
    let doc: Json;
    try { doc = JSON.parse(m[2]); } catch { return; }
    out.push({ doc, where: `event ${k}`, rebuild: (b) => Buffer.concat([...evs.slice(0, k), Buffer.from(m[1] + "data: "), b, Buffer.from("\n\n"), ...evs.slice(k + 1)]) });
  });
  return out;
}

function* responseSweep(c: ProviderCase): Generator<{ label: string; resp: ResponseSpec; split?: boolean }> {
  const base = caseResponse(c)!;
  for (const m of truncationSweep(base.body)) yield { label: m.label, resp: withBody(base, m.bytes) };
  for (const e of eventDocs(c)) for (const m of retypeSweep(e.doc)) yield { label: `${e.where}: ${m.label}`, resp: withBody(base, e.rebuild(m.bytes)) };
  for (const s of STATUSES) if (s !== base.status) yield { label: `status ${s}`, resp: { ...base, status: s } };
  for (const ct of CONTENT_TYPE_SWAPS) yield { label: `content-type ${JSON.stringify(ct)}`, resp: withContentType(base, ct) };
  yield { label: "empty body", resp: withBody(base, Buffer.alloc(0)) };
  for (const st of [base.status, 200, 500, 529]) yield { label: `status ${st}, no body (end of stream on the headers)`, resp: { ...base, status: st, endOnHeaders: true, headers: base.headers.filter(([k]) => k !== "content-length") } };
  yield { label: "empty end-of-stream frame after the body", resp: { ...base, emptyEnd: true } };
}

async function oneResponse(ctx: TargetContext, cnt: Counter, iteration: number | string, c: ProviderCase, label: string, resp: ResponseSpec,
  opts: { splitCheck?: Rng; abortAfter?: number } = {}): Promise<void> {
  const host = await ctx.hosts.get(c.configText);
  cnt.inputs++; cnt.exchanges++;
  // Inputs per provider framing (by the case's own content type: what the provider streams in).
  cnt.note(`${framingFor(caseResponse(c)!.headers.find(([k]) => k === "content-type")?.[1] ?? "")?.name ?? "json"} cases`);
  const req = caseRequest(c);
  const r = runExchange(host, c.config, req, resp, { clientFault: false, clientAbortAfterParts: opts.abortAfter });
  if (r.trapped) cnt.traps++;
  const problems = [...r.problems];
  if (!r.exchange.upstream) problems.push(`the unmodified fixture request was not forwarded (answered ${r.exchange.client.status})`);
  if (opts.splitCheck && !r.trapped && resp.body.length > 1) {
    // The same answer cut into random body chunks must give the client the same bytes.
    const rng = opts.splitCheck;
    const cuts = rng.bool(0.5) ? rng.cuts(resp.body.length, rng.range(2, 12)) : [1 + rng.int(resp.body.length - 1)];
    const h2 = await ctx.hosts.get(c.configText);
    cnt.exchanges++;
    const r2 = runExchange(h2, c.config, req, { ...resp, cuts }, { clientFault: false });
    if (r2.trapped) cnt.traps++;
    problems.push(...r2.problems.map((p) => `(split at ${cuts.join(",")}) ${p}`));
    if (!r2.trapped && r2.clientText !== r.clientText) {
      let k = 0;
      while (k < r.clientText.length && r.clientText[k] === r2.clientText[k]) k++;
      problems.push(`split at ${cuts.join(",")} changes the client bytes at ${k}: whole ${JSON.stringify(r.clientText.slice(Math.max(0, k - 40), k + 80))} vs split ${JSON.stringify(r2.clientText.slice(Math.max(0, k - 40), k + 80))}`);
    }
    cnt.note("split-checked");
  }
  if (problems.length) {
    cnt.findings++;
    ctx.findings.add({ target: "responses", seed: ctx.seed, iteration, label, caseId: c.id, problems }, { request: req, response: resp, config: c.configText });
  }
}

export const RESPONSES: Target = {
  name: "responses",
  description: "provider answers (JSON bodies, SSE and eventstream streams) truncated, corrupted and split, for every fixture case",
  async run(ctx) {
    const cnt = new Counter();
    const cases = ctx.cases.filter((c) => c.response);
    if (ctx.only === undefined) {
      for (const c of cases) {
        let i = 0;
        const srng = rngFor(ctx.seed, "responses-sweep", c.id);
        for (const m of sample(responseSweep(c), ctx.sweeps, srng)) await oneResponse(ctx, cnt, `sweep:${c.id}:${i++}`, c, m.label, m.resp);
        // Every split point of one corrupted variant (the fixture itself is split-tested by tests/providers).
        if (ctx.sweeps !== "none") {
          const base = caseResponse(c)!;
          const framing = framingFor(base.headers.find(([k]) => k === "content-type")?.[1] ?? "");
          const mrng = rngFor(ctx.seed, "responses-split", c.id);
          const doc = bodyJson(base.body);
          // A body that is not JSON (a proxy's plain-text error page) is corrupted as bytes.
          const mut = framing ? framing.mutate(mrng, base.body, { maxResponseBytes: MAX_RESPONSE_BYTES }) : doc !== undefined ? mutateJson(mrng, doc) : mutateBytes(mrng, base.body);
          if (mut.bytes.length < 1 << 16) {
            const positions = Array.from({ length: mut.bytes.length - 1 }, (_, k) => k + 1);
            // The whole-body exchange is checked like any other input; the splits must give its bytes.
            await oneResponse(ctx, cnt, `split-whole:${c.id}`, c, mut.label, withBody(base, mut.bytes));
            const whole = runExchange(await ctx.hosts.get(c.configText), c.config, caseRequest(c), withBody(base, mut.bytes), { clientFault: false });
            const wholeProblems = new Set(whole.problems);
            cnt.exchanges++;
            const bad: number[] = [];
            for (const p of sample(positions, ctx.sweeps === "all" ? "all" : Math.max(8, Number(ctx.sweeps) >> 2), srng)) {
              const h = await ctx.hosts.get(c.configText);
              const r = runExchange(h, c.config, caseRequest(c), { ...withBody(base, mut.bytes), cuts: [p] }, { clientFault: false });
              cnt.exchanges++; cnt.inputs++;
              cnt.note(`${framing?.name ?? "json"} cases`);
              if (r.trapped) cnt.traps++;
              if (r.problems.some((x) => !wholeProblems.has(x)) || r.clientText !== whole.clientText) bad.push(p);
            }
            if (bad.length) {
              cnt.findings++;
              ctx.findings.add({ target: "responses", seed: ctx.seed, iteration: `split:${c.id}`, label: `every split of (${mut.label})`, caseId: c.id, problems: [`${bad.length} split points change the client bytes or break an invariant, first at ${bad[0]}`] }, { request: caseRequest(c), response: withBody(base, mut.bytes), config: c.configText });
            }
          }
        }
      }
      ctx.progress?.(`responses: sweeps done (${cnt.exchanges} exchanges)`);
    }
    for (let it = 0; it < ctx.iterations; it++) {
      if (ctx.only !== undefined && String(ctx.only) !== String(it)) continue;
      const rng = rngFor(ctx.seed, "responses", it);
      const c = rng.pick(cases);
      const base = caseResponse(c)!;
      const framing = framingFor(base.headers.find(([k]) => k === "content-type")?.[1] ?? "");
      const kind = rng.weighted([[55, "framing"], [20, "bytes"], [10, "json"], [5, "status"], [5, "content-type"], [5, "abort"]] as const);
      let resp: ResponseSpec = base, label: string;
      if (kind === "framing" && framing) { const m = framing.mutate(rng, base.body, { maxResponseBytes: MAX_RESPONSE_BYTES }); resp = withBody(base, m.bytes); label = `${framing.name}: ${m.label}`; cnt.note(`${framing.name} corruptions`); }
      else if ((kind === "json" || kind === "framing") && !framing) {
        // A body that is not JSON (a proxy's plain-text error page) is mutated as bytes.
        const doc = bodyJson(base.body);
        const m = rng.bool(0.98) ? (doc !== undefined ? mutateJson(rng, doc) : mutateBytes(rng, base.body))
          : { label: `body of ${MAX_RESPONSE_BYTES + 1} bytes`, bytes: Buffer.concat([base.body, Buffer.alloc(MAX_RESPONSE_BYTES + 1 - base.body.length, 0x20)]) };
        resp = withBody(base, m.bytes); label = `${doc !== undefined ? "json" : "bytes"}: ${m.label}`;
      } else if (kind === "json" && framing) {
        const evs = eventDocs(c);
        if (!evs.length) { const m = mutateBytes(rng, base.body); resp = withBody(base, m.bytes); label = `bytes: ${m.label}`; }
        else { const e = rng.pick(evs); const m = mutateJson(rng, e.doc, { hugeBytes: 65536 }); resp = withBody(base, e.rebuild(m.bytes)); label = `${e.where}: ${m.label}`; }
      } else if (kind === "status") { const s = rng.pick(STATUSES); resp = { ...base, status: s, endOnHeaders: rng.bool(0.2) }; label = `status ${s}${resp.endOnHeaders ? " without a body" : ""}`; }
      else if (kind === "content-type") { const ct = rng.pick(CONTENT_TYPE_SWAPS); resp = withContentType(base, ct); label = `content-type ${ct}`; }
      else if (kind === "abort") {
        const cuts = rng.cuts(base.body.length, rng.range(2, 6));
        const after = rng.int(cuts.length + 1);
        await oneResponse(ctx, cnt, it, c, `client disconnects after ${after} of ${cuts.length + 1} body parts`, { ...base, cuts }, { abortAfter: after });
        continue;
      } else { const m = mutateBytes(rng, base.body); resp = withBody(base, m.bytes); label = `bytes: ${m.label}`; }
      if (rng.bool(0.2)) resp = { ...resp, emptyEnd: true };
      await oneResponse(ctx, cnt, it, c, label, resp, { splitCheck: rng.bool(0.35) ? rng : undefined });
      if (it % 5000 === 4999) ctx.progress?.(`responses: ${it + 1}/${ctx.iterations}`);
    }
    return cnt.stats("responses");
  },
};

// ======================================================================= plugin configurations

const GCP_KEY = readFileSync(join(ROOT, "tests", "fixtures", "gcp", "rsa2048.pkcs8.pem"), "utf8");

/** Configurations beyond the fixtures' so every section and auth type is mutated too. */
function extraConfigs(): { name: string; config: any; env?: Record<string, string> }[] {
  const openai = { name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: "sk-test" } };
  return [
    {
      name: "limits-local+clients", config: {
        backends: [openai], models: [{ match: "gpt-*", backend: "openai" }],
        clients: [{ name: "team-a", key_sha256: "a".repeat(64) }, { name: "team-b", key: "gw-key-b" }],
        max_request_bytes: 1048576, max_response_bytes: 8388608, cluster_header: "x-ai-gateway-cluster",
        limits: { mode: "local", stream_edge: "cut", usage_event: true, default_output_tokens: 256, bytes_per_token: 4, rules: [
          { name: "per-client", key: ["client", "model", "header:x-team"], window: "minute", tokens: 100000, cost: { input: 1, cached_input: 0.1, output: 4, reasoning: 4, request: 1 }, match: { model: "gpt-*" } },
        ] },
      },
    },
    {
      name: "limits-global+client-header", config: {
        backends: [openai], models: [{ match: "*", backend: "openai", upstream_model: "gpt-4o-mini" }], client_header: "x-client",
        limits: { mode: "global", rls_cluster: "ratelimit", domain: "ai_gateway", timeout_ms: 100, failure_mode: "deny", rules: [{ name: "g", key: ["client"], window: "hour", tokens: 1000 }] },
      },
    },
    {
      name: "auth-variety", env: { KEY_ENV: "env-secret", AWS_SECRET: "aws-secret", GSA: JSON.stringify({ type: "service_account", client_email: "a@b.iam.gserviceaccount.com", private_key: GCP_KEY, private_key_id: "k1", token_uri: "https://oauth2.googleapis.com/token" }) },
      config: {
        backends: [
          { name: "b1", schema: "openai", cluster: "c1", host: "h1.example", auth: { type: "bearer", env: ["KEY_ENV"], bad_key_seconds: 30 } },
          { name: "b2", schema: "openai", cluster: "c2", host: "h2.example", base_path: "/v1beta/openai", auth: { type: "query", param: "key", key: "q-key" } },
          { name: "b3", schema: "openai", cluster: "c3", host: "bedrock-runtime.us-east-1.amazonaws.com", auth: { type: "aws-sigv4", region: "us-east-1", service: "bedrock", access_key: "AKIDEXAMPLE", secret_key_env: "AWS_SECRET", session_token: "tok" } },
          { name: "b4", schema: "openai", cluster: "c4", host: "us-central1-aiplatform.googleapis.com", auth: { type: "gcp-service-account", token_cluster: "gcp", credentials_env: "GSA", scope: "https://www.googleapis.com/auth/cloud-platform", timeout_ms: 1000 } },
          { name: "b5", schema: "azure-openai", cluster: "c5", host: "r.openai.azure.com", api_version: "2024-10-21", deployment: "dep", auth: { type: "azure-entra", tenant_id: "t1", client_id: "c1", client_secret: "s1", token_cluster: "entra", token_host: "login.microsoftonline.com", timeout_ms: 1000 } },
          { name: "b6", schema: "anthropic", cluster: "c6", host: "api.anthropic.com", default_max_tokens: 1000, api_version: "2023-06-01", auth: { type: "x-api-key", key: ["k1", "k2"] } },
          { name: "b7", preset: "mistral", cluster: "c7", stream_usage: "never", normalize: true, drop_fields: ["store"], rename_fields: { seed: "random_seed" }, auth: { type: "none" } },
          { name: "b8", schema: "openai", cluster: "c8", host: "h8.example", auth: { type: "gcp-service-account", token_cluster: "gcp", credentials: { type: "service_account", client_email: "a@b.iam.gserviceaccount.com", private_key: GCP_KEY, private_key_id: "k1", token_uri: "https://oauth2.googleapis.com/token" } } },
        ],
        models: [{ match: "m1", backend: "b1" }, { match: "m2", backend: "b2" }, { match: "m3", backend: "b3" }, { match: "m4", backend: "b4" }, { match: "m5", backend: "b5" }, { match: "claude-*", backend: "b6" }, { match: "mistral-*", backend: "b7" }, { match: "m8", backend: "b8" }],
      },
    },
  ];
}

interface BaseConfig { name: string; config: any; env?: Record<string, string>; probe: ProviderCase | null }

function baseConfigs(cases: ProviderCase[]): BaseConfig[] {
  const seen = new Map<string, BaseConfig>();
  for (const c of cases) if (!seen.has(c.configText)) seen.set(c.configText, { name: `fixture:${c.id.split("/")[0]}`, config: c.config, probe: c });
  const out = [...seen.values()];
  for (const e of extraConfigs()) out.push({ ...e, probe: null });
  return out;
}

/** Values to put in place of a string field: bad enums, control characters, oversize, odd names. */
const STRING_SWAPS = ["", "bogus", "UPPER", " padded ", "a\r\nx-injected: 1", "\u0000", "*", "a".repeat(10000), "é", "../../etc", "openai", "anthropic", "header", "local", "global", "deny", "cut"];
const NUMBER_SWAPS = ["-1", "0", "1", "1.5", "1e400", "-0", "4294967296", "9223372036854775809", "65536", "60001", "1" + "0".repeat(30)];

function* configSweep(base: any): Generator<Mutant> {
  for (const p of paths(base)) {
    const cur = getAt(base, p);
    const where = "/" + p.join("/");
    if (p.length) { const d = dropAt(base, p); if (d !== null) yield { label: `drop ${where}`, bytes: serialize(d) }; }
    for (const t of JSON_TYPES) if (t !== typeOf(cur)) yield { label: `retype ${where} → ${t}`, bytes: serialize(replaceAt(base, p, () => valueOfType(t))) };
    if (typeof cur === "string") for (const s of STRING_SWAPS) if (s !== cur) yield { label: `${where} = ${JSON.stringify(s.slice(0, 20))}`, bytes: serialize(replaceAt(base, p, () => s)) };
    if (typeof cur === "number" || typeof cur === "boolean") for (const n of NUMBER_SWAPS) yield { label: `${where} = ${n.slice(0, 20)}`, bytes: serialize(replaceAt(base, p, () => raw(n))) };
    if (typeOf(cur) === "object") yield { label: `unknown field at ${where}`, bytes: serialize(replaceAt(base, p, (o) => ({ ...o, x_unknown_field: 1 }))) };
    if (Array.isArray(cur) && cur.length) {
      yield { label: `${where} emptied`, bytes: serialize(replaceAt(base, p, () => [])) };
      yield { label: `${where}[0] duplicated`, bytes: serialize(replaceAt(base, p, (a: any[]) => [a[0], ...a])) };
    }
  }
  for (const m of truncationSweep(serialize(base))) if (m.bytes.length % 7 === 0) yield m; // every 7th byte: loads are the expensive part
}

/** "ai-gateway: invalid plugin configuration: <field path>: <why>" */
const SEGMENT = String.raw`(?:[A-Za-z0-9_:-]+|"(?:[^"\\\u0000-\u001f]|\\.)*")(?:\[\d+\])*`;
const FIELD_ERROR = new RegExp(String.raw`^ai-gateway: invalid plugin configuration: (${SEGMENT}(?:\.${SEGMENT})*|configuration): \S`);

/** Values of the secret-bearing fields of a configuration (they must never be logged). */
const SECRET_PATH = /(\.auth\.key|\.secret_key|\.client_secret|\.session_token|\.access_key|\.private_key|\.credentials|^clients\.\d+\.key)(\.\d+)?$/;

/** Every string of a configuration with its dotted path. */
function strings(cfg: unknown): [string, string][] {
  const out: [string, string][] = [];
  const walk = (v: any, path: string, depth: number): void => {
    if (depth > 64) return; // deeper than any real configuration (nesting mutations)
    if (typeof v === "string") { out.push([path, v]); return; }
    if (Array.isArray(v)) { v.forEach((x, i) => walk(x, `${path}.${i}`, depth + 1)); return; }
    if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k, depth + 1);
  };
  walk(cfg, "", 0);
  return out;
}

/** Values of the secret-bearing fields of a configuration and of the VM environment (never to be logged). */
function secretValues(cfg: unknown, env?: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [p, v] of strings(cfg)) if (SECRET_PATH.test(p) && v.length >= 6) out.push(v.length > 100 ? v.slice(60, 120) : v);
  for (const v of Object.values(env ?? {})) if (v.length >= 6) out.push(v.length > 200 ? v.slice(60, 120) : v);
  return out;
}

/** Every string value of a configuration outside the secret fields. */
function plainValues(cfg: unknown): string[] {
  return strings(cfg).filter(([p]) => !SECRET_PATH.test(p)).map(([, v]) => v);
}

async function oneConfig(ctx: TargetContext, cnt: Counter, iteration: number | string, b: BaseConfig, m: Mutant): Promise<void> {
  cnt.inputs++;
  const canary = ctx.hosts.canary(m.bytes.toString("utf8"), b.env);
  const loaded = canary.ok ? await ctx.hosts.tryLoad(m.bytes.toString("utf8"), b.env) : new LoadError(canary.failMessage, canary.logs);
  const problems: string[] = [];
  if (loaded instanceof LoadError) {
    cnt.note("refused");
    const trap = loaded.logs.find((l) => /failed: Uncaught|RuntimeError|unreachable/.test(l.message)) ?? (/Uncaught|RuntimeError/.test(loaded.message) ? { message: loaded.message } : undefined);
    if (trap) { cnt.traps++; problems.push(`TRAP while configuring: ${trap.message}`); }
    const lines = loaded.logs.filter((l) => l.origin === "wasm" && l.message.startsWith("ai-gateway: invalid plugin configuration"));
    if (lines.length !== 1) problems.push(`${lines.length} "invalid plugin configuration" log lines (want 1); load error: ${loaded.message}`);
    else if (!FIELD_ERROR.test(lines[0].message)) problems.push(`the refusal does not name a field: ${lines[0].message.slice(0, 200)}`);
    let mutated: unknown;
    try { mutated = JSON.parse(m.bytes.toString("utf8")); } catch { mutated = undefined; }
    // Secrets never appear in the refusal: values that are secrets in both the original and the
    // mutated configuration (a mutation that moves a key into e.g. `type` made it a plain value).
    const before = new Set(secretValues(b.config, b.env));
    const plain = new Set(plainValues(mutated));
    for (const s of secretValues(mutated, b.env)) if (before.has(s) && !plain.has(s) && lines.some((l) => l.message.includes(s))) problems.push(`the refusal shows a secret (${s.slice(0, 12)}…)`);
  } else {
    cnt.note("accepted");
    const host = loaded;
    let cfg: any;
    try { cfg = JSON.parse(m.bytes.toString("utf8")); } catch { cfg = b.config; }
    if (b.probe) {
      cnt.exchanges++;
      const r = runExchange(host, cfg, caseRequest(b.probe), caseResponse(b.probe) ?? genericErrorResponse(), { clientFault: true });
      if (r.trapped) cnt.traps++;
      // An accepted configuration may route the probe elsewhere or refuse it: only VM health and the answer's shape count.
      problems.push(...r.problems.filter((p) => /TRAP|HOST|alive|pending|no answer|reset|not JSON|error body|ends inside|does not end/.test(p)));
    } else {
      // One request per model route of the accepted configuration.
      for (const rule of (Array.isArray(cfg?.models) ? cfg.models : []).slice(0, 8)) {
        if (typeof rule?.match !== "string") continue;
        const model = rule.match.replace(/\*/g, "x");
        cnt.exchanges++;
        const r = runExchange(host, cfg, { path: "/v1/chat/completions", body: Buffer.from(JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream: true })), headers: { "x-client": "c1", authorization: "Bearer gw-key-b" } }, genericErrorResponse(), { clientFault: false });
        if (r.trapped) cnt.traps++;
        problems.push(...r.problems.filter((p) => /TRAP|HOST|alive|pending|no answer|reset|not JSON|error body/.test(p)));
        if (r.trapped) break;
      }
    }
    host.close();
  }
  if (problems.length) {
    cnt.findings++;
    ctx.findings.add({ target: "configs", seed: ctx.seed, iteration, label: `${b.name}: ${m.label}`, caseId: b.name, problems }, { config: m.bytes.toString("utf8") });
  }
}

export const CONFIGS: Target = {
  name: "configs",
  description: "plugin configurations mutated from the fixture configurations (and three that cover limits, clients and every auth type)",
  async run(ctx) {
    const cnt = new Counter();
    const bases = baseConfigs(ctx.cases);
    if (ctx.only === undefined) {
      for (const b of bases) {
        let i = 0;
        for (const m of sample(configSweep(b.config), ctx.sweeps, rngFor(ctx.seed, "configs-sweep", b.name))) await oneConfig(ctx, cnt, `sweep:${b.name}:${i++}`, b, m);
      }
      ctx.progress?.(`configs: sweeps done (${cnt.inputs} configurations)`);
    }
    for (let it = 0; it < ctx.iterations; it++) {
      if (ctx.only !== undefined && String(ctx.only) !== String(it)) continue;
      const rng = rngFor(ctx.seed, "configs", it);
      const b = rng.pick(bases);
      const m = rng.bool(0.8) ? mutateJson(rng, b.config) : mutateBytes(rng, serialize(b.config));
      await oneConfig(ctx, cnt, it, b, m);
      if (it % 1000 === 999) ctx.progress?.(`configs: ${it + 1}/${ctx.iterations}`);
    }
    return cnt.stats("configs");
  },
};

export const TARGETS: Target[] = [REQUESTS, RESPONSES, CONFIGS];
