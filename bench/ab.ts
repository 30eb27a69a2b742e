// A/B timing of two builds of the filter in one process, interleaved in rounds so that machine
// load hits both alike (a shared machine makes separate runs of bench/run.ts too noisy to see a
// few percent). Same traffic and driver as bench/run.ts scenarios a (JSON) and b (SSE, 200 chunks).
//   node --import tsx bench/ab.ts <before.wasm> <after.wasm> [rounds]
import { PluginHost, type Worker } from "../tests/host/plugin-host.ts";
import { chatRequest, chatResponse, sseStream } from "./bodies.ts";

const [wa, wb, roundsArg] = process.argv.slice(2);
if (!wa || !wb) throw new Error("usage: bench/ab.ts <before.wasm> <after.wasm> [rounds]");
const ROUNDS = Number(roundsArg ?? "20");
const CONFIG = JSON.stringify({
  backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.test", auth: { type: "bearer", key: "sk-upstream-secret" } }],
  models: [{ match: "gpt-*", backend: "openai" }],
});
const REQ = (len: number): [string, string][] => [[":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gateway.local"],
  [":scheme", "http"], ["content-type", "application/json"], ["content-length", String(len)], ["authorization", "Bearer sk-client"]];
const jsonReq = chatRequest(2048, false), json = chatResponse(1024);
const sseReq = chatRequest(2048, true), sse = sseStream(200);

function once(w: Worker, stream: boolean): number {
  const t0 = process.hrtime.bigint();
  const s = w.newStream({ record: false });
  const req = stream ? sseReq : jsonReq;
  s.requestHeaders(REQ(req.length)).requestBody(req, true);
  if (!stream) s.responseHeaders([[":status", "200"], ["content-type", "application/json"], ["content-length", String(json.length)]]).responseBody(json, true);
  else {
    s.responseHeaders([[":status", "200"], ["content-type", "text/event-stream; charset=utf-8"]]);
    for (let i = 0; i < sse.events.length; i++) s.responseBody(sse.events[i], i === sse.events.length - 1);
  }
  s.complete();
  return Number(process.hrtime.bigint() - t0);
}

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const hosts = await Promise.all([wa, wb].map((w, i) => PluginHost.load({ wasm: w, plugin: { rootId: "ai_gateway", vmId: `ab${i}`, configuration: CONFIG }, workers: 1 })));
const workers = hosts.map((h) => h.worker(0));
for (const [name, stream, per] of [["a) JSON", false, 500], ["b) SSE 200", true, 40]] as const) {
  const t: number[][] = [[], []];
  const ratios: number[] = [];
  for (const w of workers) for (let i = 0; i < per; i++) once(w, stream); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const round: number[][] = [[], []];
    for (const k of r % 2 ? [1, 0] : [0, 1]) for (let i = 0; i < per; i++) round[k].push(once(workers[k], stream));
    t[0].push(...round[0]); t[1].push(...round[1]);
    ratios.push(median(round[1]) / median(round[0]));
  }
  const [ma, mb] = [median(t[0]), median(t[1])];
  console.log(`${name}: before ${Math.round(ma)} ns, after ${Math.round(mb)} ns (medians of ${t[0].length} requests each); ` +
    `median of per-round ratios ${((median(ratios) - 1) * 100).toFixed(1)}% over ${ROUNDS} interleaved rounds`);
}
for (const h of hosts) h.close();
