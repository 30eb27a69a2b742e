// Stream context: one per HTTP request. Host glue only: it runs the phases of DESIGN.md and
// delegates everything provider-specific to the Provider interface.
//
// Phases: request headers (classify, strip client credentials, hold the headers) → request body
// (buffer to the end, parse once, route by model, let the provider build the upstream request,
// set :path/:authority/cluster header/credentials, clear the route cache) → response headers
// (pick the response handler) → response body (translate as it flows; JSON buffered to the end)
// → log (one line with the usage).

import {
  Context, RootContext, log, LogLevelValues, stream_context, send_local_response, HeaderPair, Headers,
  FilterHeadersStatusValues, FilterDataStatusValues, GrpcStatusValues, get_buffer_bytes, set_buffer_bytes,
  BufferTypeValues, clear_route_cache, continue_request, BaseContext, WasmResultValues, get_log_level,
} from "@solo-io/proxy-runtime/assembly";
import { parseJson, Kind } from "../json/json";
import { ApiError, badRequest } from "../errors";
import { ByteBuilder, bytesOf, indexOfBytes } from "../util/bytes";
import { ClientRequest, Endpoint, ResponseHandler, UpstreamRequest } from "../providers/provider";
import { providerFor } from "../providers/registry";
import { prepareMessagesRequest } from "../providers/messages_in";
import { messagesResponseHandler } from "../providers/messages_out";
import { GatewayRoot, nowSeconds } from "./root";
import { TokenWaiter } from "./credentials";
import { Admission } from "./limits";
import { Rule } from "../limits/policy";
import { decodeRateLimitResponse, RLS_SERVICE, RLS_METHOD } from "../limits/rls";
import { costOf } from "../limits/policy";
import { deltaTextBytes, lastChunkHead } from "../streams/budget";
import { writeChunkUsage } from "../providers/openai_out";
import { RequestFacts, estimate } from "../limits/policy";
import { Usage } from "../usage";
import { sha256 } from "../util/sha256";
import { hexEncode, uriEncode } from "../util/hex";
import { Observation, OP_CHAT, OP_EMBEDDINGS, LIMIT_NONE, LIMIT_OK, LIMIT_DENIED } from "./metrics";
import { stateClient, stateRoute, stateLimit, stateUsage } from "./access";
import { monotonicNs } from "./clock";
import { RequestHeaderScan } from "./headers";

/** Client credentials never go upstream: the gateway adds the backend's own. */
const CLIENT_CREDENTIAL_HEADERS: string[] = [
  "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "openai-organization", "openai-project",
  // A client's own AWS signature parts must not ride along with ours (or stand in for a missing one).
  "x-amz-security-token", "x-amz-date", "x-amz-content-sha256",
];

const EMPTY = new Uint8Array(0);

function classify(method: string, path: string): Endpoint {
  if (path == "/v1/chat/completions" || path == "/chat/completions") return Endpoint.ChatCompletions;
  if (path == "/v1/embeddings" || path == "/embeddings") return Endpoint.Embeddings;
  if (path == "/v1/models" || path == "/models" || path.startsWith("/v1/models/")) return Endpoint.Models;
  if (path == "/v1/messages" || path == "/messages") return Endpoint.Messages;
  return Endpoint.Unknown;
}

/** Log-safe rendering of a client-controlled value: no control characters, bounded length. */
function logSafe(s: string): string {
  let clean = true;
  for (let i = 0; i < s.length && clean; i++) { const c = s.charCodeAt(i); if (c < 0x20 || c == 0x7f || c == 0x20) clean = false; }
  if (clean && s.length <= 128) return s;
  let out = "";
  for (let i = 0; i < s.length && i < 128; i++) { const c = s.charCodeAt(i); out += c < 0x20 || c == 0x7f || c == 0x20 ? "_" : String.fromCharCode(c); }
  return out;
}

const DONE_LINE = bytesOf("data: [DONE]");


function onCheckAnswer(origin: BaseContext, grpcStatus: u32, message: ArrayBuffer): void {
  changetype<GatewayStream>(origin).checkAnswered(grpcStatus, message);
}

function onDebitAnswer(_origin: BaseContext, grpcStatus: u32, _message: ArrayBuffer): void {
  if (grpcStatus != 0) log(LogLevelValues.warn, "ai-gateway: rate limit debit failed with gRPC status " + grpcStatus.toString());
}

export class GatewayStream extends Context implements TokenWaiter {
  private gw: GatewayRoot;
  private endpoint: Endpoint = Endpoint.Unknown;
  private method: string = "";
  private path: string = "";
  /** Status of a local reply we sent; its response callbacks then pass straight through (§3.7). */
  private localStatus: i32 = 0;
  private req: ClientRequest | null = null;
  private handler: ResponseHandler | null = null;
  private status: i32 = 0;
  private out: ByteBuilder | null = null;
  /** The client speaks the Anthropic Messages API (/v1/messages…): errors in its envelope. */
  private anthropicErrors: bool = false;
  /** The client's anthropic-beta header (removed from the request; native Messages backends may get it). */
  private anthropicBeta: string = "";
  /** Client identity (gateway API key name or trusted header), "-" when none is configured. */
  client: string = "-";
  /** Index of the backend API key used, for 401/403 penalties (-1: none). */
  private keyIndex: i32 = -1;
  /** Request header values the limit rules key on (name, value, …), read while headers are available. */
  private limitHeaders: string[] = [];
  private admission: Admission | null = null;
  /** Admission estimate, used as the cost when no usage arrives (client abort, broken stream). */
  private estimated: Usage | null = null;
  private requestBytes: i64 = 0;
  private responseBytes: i64 = 0;
  /** Asynchronous steps the paused request waits for (limit check, first OAuth token). */
  private pending: i32 = 0;
  /** Global mode: the rules the check covered (the debit uses the same descriptors). */
  private globalRules: Rule[] = [];
  /** Output tokens this stream may produce before it is cut (-1: no cut). */
  private outputBudget: i64 = -1;
  /** Bytes of delta text sent to the client so far (content, arguments, reasoning). */
  private outputTextBytes: i64 = 0;
  /** The stream was ended at its budget: later upstream bytes are not forwarded. */
  private cut: bool = false;
  /** Head of the last client chunk (id, object, created, model), for gateway-made chunks. */
  private lastHead: Uint8Array | null = null;
  /** Timings and outcome for metrics (metrics.ts). */
  private obs: Observation = new Observation();
  /** Status the filter gave the client instead of upstream's, outside any handler (0: none). */
  private clientStatus: i32 = 0;
  /** The client already has its (error) answer: later upstream body bytes are dropped. */
  private dropRest: bool = false;

  constructor(context_id: u32, root: RootContext) {
    super(context_id, root);
    this.gw = changetype<GatewayRoot>(root);
  }

  private reply(status: i32, body: ArrayBuffer, details: string, extra: string[] = [], contentType: string = "application/json"): void {
    this.localStatus = status;
    this.obs.localDetails = details;
    const headers: Headers = [];
    headers.push(new HeaderPair(String.UTF8.encode("content-type"), String.UTF8.encode(contentType)));
    for (let i = 0; i + 1 < extra.length; i += 2) headers.push(new HeaderPair(String.UTF8.encode(extra[i]), String.UTF8.encode(extra[i + 1])));
    send_local_response(<u32>status, details, body, headers, GrpcStatusValues.InvalidCode);
  }

  private fail(e: ApiError): void { this.reply(e.status, e.render(this.anthropicErrors), "ai_gateway_" + (e.code.length ? e.code : "error")); }

  onRequestHeaders(_n: u32, end_of_stream: bool): FilterHeadersStatusValues {
    this.obs.start = monotonicNs();
    const cfg = this.gw.config;
    if (cfg === null) { // cannot happen after a successful on_configure; answer rather than trap
      this.fail(new ApiError(500, "server_error", "not_configured", "The gateway is not configured."));
      return FilterHeadersStatusValues.StopIteration;
    }
    const h = stream_context.headers.request;
    // One host call reads every header; only headers present are removed (headers.ts).
    const scan = new RequestHeaderScan(h.get_headers(), CLIENT_CREDENTIAL_HEADERS, cfg.clientHeader, cfg.clusterHeader);
    this.method = scan.method;
    const fullPath = scan.path;
    const q = fullPath.indexOf("?");
    this.path = q >= 0 ? fullPath.substring(0, q) : fullPath;
    this.anthropicErrors = this.path == "/v1/messages" || this.path == "/messages" || this.path.startsWith("/v1/messages/");
    const who = this.identify(scan, cfg.clientHeader, cfg.clientKeys);
    // Client credentials, the client's anthropic-* headers (anthropic-beta kept for a native
    // Messages backend to filter) and the client header never go upstream.
    this.anthropicBeta = scan.anthropicBeta;
    for (let i = 0; i < scan.drop.length; i++) h.remove(unchecked(scan.drop[i]));
    if (who === null) {
      this.endpoint = classify(this.method, this.path);
      this.fail(new ApiError(401, "invalid_request_error", "invalid_api_key",
        cfg.clientHeader.length ? "The request carries no client identity." : "Incorrect or missing API key for this gateway."));
      return FilterHeadersStatusValues.StopIteration;
    }
    this.client = who;
    stateClient(who);
    const lim = cfg.limits;
    if (lim !== null) {
      for (let i = 0; i < lim.headers.length; i++) { this.limitHeaders.push(lim.headers[i]); this.limitHeaders.push(h.get(lim.headers[i])); }
    }
    // The route header decides the upstream cluster: a client must never set it.
    if (scan.clusterHeaderPresent) h.remove(cfg.clusterHeader);

    const ep = classify(this.method, this.path);
    this.endpoint = ep;
    if (ep == Endpoint.Unknown) {
      this.fail(new ApiError(404, "invalid_request_error", "unknown_url", "Unknown request URL: " + this.method + " " + this.path + "."));
      return FilterHeadersStatusValues.StopIteration;
    }
    if (ep == Endpoint.Models) {
      if (this.method != "GET") { this.fail(new ApiError(405, "invalid_request_error", "method_not_allowed", "Use GET for " + this.path + ".")); }
      else this.answerModels();
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.method != "POST") {
      this.fail(new ApiError(405, "invalid_request_error", "method_not_allowed", "Use POST for " + this.path + "."));
      return FilterHeadersStatusValues.StopIteration;
    }
    const ct = scan.contentType.toLowerCase();
    if (!ct.startsWith("application/json")) {
      this.fail(new ApiError(415, "invalid_request_error", "unsupported_media_type",
        "Content-Type must be application/json (got \"" + ct + "\")."));
      return FilterHeadersStatusValues.StopIteration;
    }
    const cl = scan.contentLength;
    if (cl.length > 0 && cl.length < 16) {
      const n = I64.parseInt(cl);
      if (n > cfg.maxRequestBytes) { this.tooLarge(); return FilterHeadersStatusValues.StopIteration; }
    }
    if (end_of_stream) {
      this.fail(badRequest("missing_body", "The request body is empty; expected a JSON object."));
      return FilterHeadersStatusValues.StopIteration;
    }
    // Providers answer in identity encoding so streams can be translated as they flow.
    if (scan.acceptEncodingPresent) h.remove("accept-encoding");
    // Hold the headers until the body decided the backend (needs allow_on_headers_stop_iteration, §3.2).
    return FilterHeadersStatusValues.StopIteration;
  }

  /** Client name, or null when identity is required and missing/unknown. */
  private identify(scan: RequestHeaderScan, trusted: string, keys: Map<string, string>): string | null {
    if (trusted.length) {
      const v = scan.client;
      return v.length > 0 && v.length <= 256 ? logSafe(v) : null;
    }
    if (keys.size == 0) return "-";
    // OpenAI clients send a Bearer token; Anthropic clients x-api-key (or, with an auth token,
    // Bearer); Azure clients api-key. A client may send more than one (the Anthropic SDK sends
    // both when given both): the first that is a gateway key identifies it.
    let bearer = scan.authorization;
    bearer = bearer.length > 7 && bearer.substring(0, 7).toLowerCase() == "bearer " ? bearer.substring(7) : "";
    const candidates: string[] = [bearer, scan.xApiKey, scan.apiKey];
    for (let i = 0; i < candidates.length; i++) {
      const key = candidates[i].trim();
      if (key.length == 0) continue;
      const hash = hexEncode(sha256(Uint8Array.wrap(String.UTF8.encode(key))));
      if (keys.has(hash)) return keys.get(hash);
    }
    return null;
  }

  private facts(req: ClientRequest): RequestFacts {
    const f = new RequestFacts();
    f.client = this.client;
    f.model = req.model;
    f.backend = req.backend.name;
    f.headers = this.limitHeaders;
    return f;
  }

  /** x-ratelimit-* headers (OpenAI's names) for the most restrictive rule of an admission. */
  private limitHeaderPairs(adm: Admission): string[] {
    if (adm.rule === null) return [];
    return [
      "x-ratelimit-limit-tokens", adm.limit.toString(),
      "x-ratelimit-remaining-tokens", adm.remaining.toString(),
      "x-ratelimit-reset-tokens", adm.resetSeconds.toString() + "s",
    ];
  }

  private rateLimited(adm: Admission): void {
    const r = adm.rule;
    const headers = this.limitHeaderPairs(adm);
    headers.push("retry-after"); headers.push((adm.resetSeconds > 0 ? adm.resetSeconds : 1).toString());
    const what = r !== null ? " (rule " + r.name + ", per " + r.unit + ")" : "";
    const msg = "Rate limit reached for tokens" + what + ": limit " + adm.limit.toString() +
      ", used " + adm.used.toString() + (adm.requested > 0 ? ", requested " + adm.requested.toString() : "") +
      ". Please try again in " + adm.resetSeconds.toString() + "s.";
    const e = new ApiError(429, "tokens", "rate_limit_exceeded", msg);
    this.reply(429, e.render(this.anthropicErrors), "ai_gateway_rate_limited", headers);
  }

  /**
   * With limits.stream_edge "cut": how many output tokens this stream may produce under its most
   * restrictive rule: what remains of the budget (plus, in local mode, this request's own
   * reservation) minus the input cost, divided by the output weight.
   */
  private setBudget(adm: Admission, local: bool): void {
    const lc = this.gw.config!.limits;
    const req = this.req;
    const est = this.estimated;
    if (lc === null || lc.streamEdge != "cut" || req === null || !req.stream || est === null) return;
    const r = adm.rule;
    if (r === null) return;
    let budget = adm.remaining;
    if (local) for (let i = 0; i < adm.reservations.length; i++) if (adm.reservations[i].rule === r) budget += adm.reservations[i].amount;
    const input = new Usage();
    input.input = est.input;
    budget -= costOf(r.cost, input);
    const w = r.cost.output > 0 ? r.cost.output : 1;
    const allowed = <i64>Math.floor(<f64>budget / w);
    this.outputBudget = allowed > 0 ? allowed : 0;
  }

  /** Estimated output tokens sent so far (delta text bytes / bytes_per_token). */
  private outputTokens(): i64 {
    const lc = this.gw.config!.limits;
    const bpt = lc !== null ? lc.bytesPerToken : 4;
    return (this.outputTextBytes + bpt - 1) / bpt;
  }

  /** Usage of this request as far as known (reported, else input estimate + streamed output). */
  private usageSoFar(): Usage {
    const handler = this.handler;
    if (handler !== null && handler.usage.final) return handler.usage;
    const u = new Usage();
    const est = this.estimated;
    if (est !== null) u.input = est.input;
    u.output = this.outputTokens();
    // A partial report (Anthropic's message_start, Gemini's running usageMetadata) knows the input
    // exactly but its output lags behind what was streamed.
    if (handler !== null && handler.usage.reported) {
      const r = handler.usage;
      if (r.input > 0) { u.input = r.input; u.cachedInput = r.cachedInput; u.cacheWrite = r.cacheWrite; }
      if (r.output > u.output) { u.output = r.output; u.reasoning = r.reasoning; }
    }
    u.total = u.input + u.output;
    return u;
  }

  /** `: ai-gateway-usage {...}` SSE comment: this request's usage and the remaining budget. */
  private usageComment(out: ByteBuilder): void {
    const u = this.usageSoFar();
    out.str(": ai-gateway-usage {\"usage\":");
    writeChunkUsage(out, u);
    const adm = this.admission;
    if (adm !== null && adm.rule !== null) {
      let remaining = adm.remaining - costOf(adm.rule!.cost, u);
      for (let i = 0; i < adm.reservations.length; i++) if (adm.reservations[i].rule === adm.rule) remaining += adm.reservations[i].amount;
      out.str(",\"rule\":"); out.jsonString(adm.rule!.name);
      out.str(",\"remaining_tokens\":"); out.int(remaining > 0 ? remaining : 0);
    }
    out.str("}\n\n");
  }

  /** Ends the client stream at its budget, in the client's format: finish "length", usage if asked, [DONE]. */
  private endAtBudget(out: ByteBuilder): void {
    const head = this.lastHead;
    const req = this.req!;
    if (head !== null) {
      out.str("data: "); out.all(head);
      // With include_usage every chunk before the usage chunk carries "usage": null (§1.6).
      out.str(req.clientWantsUsage() ? "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":null}\n\n"
        : "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n");
      if (req.clientWantsUsage()) {
        out.str("data: "); out.all(head);
        out.str("\"choices\":[],\"usage\":");
        writeChunkUsage(out, this.usageSoFar());
        out.str("}\n\n");
      }
    }
    const lc = this.gw.config!.limits;
    if (lc !== null && lc.usageEvent) this.usageComment(out);
    out.str("data: [DONE]\n\n");
    this.cut = true;
    log(LogLevelValues.info, "ai-gateway: stream for client=" + this.client + " cut at its token budget (" + this.outputBudget.toString() + " output tokens)");
  }

  waiterId(): u32 { return this.context_id; }

  tokenReady(token: string): void {
    if (this.localStatus != 0) return;
    stream_context.headers.request.replace("authorization", "Bearer " + token);
    this.resumeOne();
  }

  /** One awaited step finished; continue the request when none is left. */
  private resumeOne(): void {
    if (this.localStatus != 0) return;
    if (--this.pending <= 0) { this.pending = 0; this.obs.sent = monotonicNs(); continue_request(); }
  }

  /**
   * The limit service failed (unreachable, timeout, error, undecodable answer): allow or deny per
   * limits.failure_mode. Returns true when the request may go on.
   */
  private limitServiceFailed(why: string): bool {
    const lc = this.gw.global!.cfg;
    log(LogLevelValues.warn, "ai-gateway: rate limit check failed (" + why + "); failure_mode=" + (lc.failOpen ? "allow" : "deny"));
    if (lc.failOpen) { stateLimit(true, false); return true; }
    this.fail(new ApiError(503, "server_error", "rate_limit_service_unavailable", "The rate limit service is unavailable."));
    return false;
  }

  /** The rate limit service answered the check (runs with this stream as effective context). */
  checkAnswered(grpcStatus: u32, message: ArrayBuffer): void {
    if (this.localStatus != 0) return;
    if (grpcStatus != 0) {
      if (this.limitServiceFailed("gRPC status " + grpcStatus.toString())) this.resumeOne();
      return;
    }
    const res = decodeRateLimitResponse(Uint8Array.wrap(message));
    if (!res.ok) {
      if (this.limitServiceFailed(res.error)) this.resumeOne();
      return;
    }
    const adm = this.gw.global!.decide(this.globalRules, res, nowSeconds(), this.estimated);
    this.admission = adm;
    stateLimit(adm.ok);
    if (!adm.ok) { this.rateLimited(adm); return; }
    this.setBudget(adm, false);
    this.resumeOne();
  }

  tokenFailed(message: string): void {
    this.fail(new ApiError(503, "server_error", "upstream_auth_unavailable", message));
  }

  private tooLarge(): void {
    this.fail(new ApiError(413, "invalid_request_error", "request_too_large",
      "Request body exceeds the gateway limit of " + this.gw.config!.maxRequestBytes.toString() + " bytes."));
  }

  private answerModels(): void {
    const cfg = this.gw.config!;
    const b = new ByteBuilder(256);
    const single = this.path.startsWith("/v1/models/");
    const wanted = single ? this.path.substring(11) : "";
    if (!single) b.str("{\"object\":\"list\",\"data\":[");
    let n = 0;
    for (let i = 0; i < cfg.models.length; i++) {
      const r = cfg.models[i];
      if (r.parts.length != 1) continue;
      if (single && r.pattern != wanted) continue;
      if (n++ > 0) b.byte(0x2c);
      b.str("{\"id\":"); b.jsonString(r.pattern);
      b.str(",\"object\":\"model\",\"created\":0,\"owned_by\":"); b.jsonString(r.backend.name); b.byte(0x7d);
      if (single) break;
    }
    if (!single) b.str("]}");
    if (single && n == 0) {
      this.fail(new ApiError(404, "invalid_request_error", "model_not_found", "The model `" + wanted + "` does not exist or you do not have access to it.", "model"));
      return;
    }
    this.reply(200, b.toArrayBuffer(), "ai_gateway_models");
  }

  onRequestBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    if (this.localStatus != 0) return FilterDataStatusValues.StopIterationNoBuffer;
    const cfg = this.gw.config!;
    if (<i64>body_buffer_length > cfg.maxRequestBytes) { this.tooLarge(); return FilterDataStatusValues.StopIterationNoBuffer; }
    if (!end_of_stream) return FilterDataStatusValues.StopIterationAndBuffer;

    const raw = get_buffer_bytes(BufferTypeValues.HttpRequestBody, 0, <u32>body_buffer_length);
    const doc = parseJson(Uint8Array.wrap(raw));
    const root = doc.root;
    if (root === null) {
      this.fail(badRequest("invalid_json", "We could not parse the JSON body of your request: " + doc.error +
        " at byte " + doc.errorAt.toString() + "."));
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    if (root.kind != Kind.Obj) {
      this.fail(badRequest("invalid_json", "The request body must be a JSON object."));
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    const modelNode = doc.get(root, "model");
    if (modelNode === null || modelNode.kind != Kind.Str || modelNode.end - modelNode.start <= 2) {
      this.fail(badRequest("missing_model", "You must provide a model parameter.", "model"));
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    const model = doc.str(modelNode);
    const rule = this.gw.router!.find(model);
    if (rule === null) {
      this.fail(new ApiError(404, "invalid_request_error", "model_not_found",
        "The model `" + model + "` does not exist or you do not have access to it.", "model"));
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    const req = new ClientRequest(doc, root, rule);
    req.endpoint = this.endpoint;
    req.anthropicBeta = this.anthropicBeta;
    req.model = model;
    req.nowSeconds = nowSeconds();
    const streamNode = doc.get(root, "stream");
    req.stream = streamNode !== null && streamNode.kind == Kind.Bool && streamNode.flag;
    const backend = rule.backend;
    const provider = providerFor(backend.schema)!;
    const lcf = this.gw.config!.limits;
    // Budget cut and usage comment speak the chat stream format only: Messages streams are not re-framed.
    req.reframe = req.stream && this.endpoint != Endpoint.Messages && lcf !== null && (lcf.streamEdge == "cut" || lcf.usageEvent);
    const up = new UpstreamRequest();
    const err = this.endpoint == Endpoint.Messages ? prepareMessagesRequest(provider, req, up) : provider.prepare(req, up);
    if (err !== null) { this.fail(err); return FilterDataStatusValues.StopIterationNoBuffer; }
    this.req = req;
    this.requestBytes = <i64>body_buffer_length;
    stateRoute(logSafe(model), backend.name);

    const lcfg = this.gw.config!.limits;
    if (lcfg !== null) {
      const mt = doc.get(root, "max_completion_tokens");
      const mt2 = mt !== null && mt.kind == Kind.Num ? mt : doc.get(root, "max_tokens");
      this.estimated = estimate(this.requestBytes, doc.int(mt2, 0), lcfg.defaultOutputTokens, lcfg.bytesPerToken);
    }
    const limiter = this.gw.limiter;
    if (limiter === null && this.gw.global === null) stateLimit(true, false);
    if (limiter !== null) {
      const adm = limiter.admit(this.facts(req), this.estimated!, nowSeconds());
      this.admission = adm;
      stateLimit(adm.ok);
      if (!adm.ok) { this.rateLimited(adm); return FilterDataStatusValues.StopIterationNoBuffer; }
      this.setBudget(adm, true);
    }
    const global = this.gw.global;
    if (global !== null) {
      const f = this.facts(req);
      const rules = global.rulesFor(f);
      const bytes = global.encode(rules, f, null);
      if (bytes !== null) {
        this.globalRules = rules;
        const r = this.gw.grpcCall(global.cfg.rlsCluster, RLS_SERVICE, RLS_METHOD, [], changetype<ArrayBuffer>(bytes.buffer),
          global.cfg.timeoutMs, this, onCheckAnswer);
        if (r == WasmResultValues.Ok) this.pending++;
        else if (!this.limitServiceFailed("the rate limit service cluster \"" + global.cfg.rlsCluster + "\" cannot be called")) return FilterDataStatusValues.StopIterationNoBuffer;
      } else stateLimit(true, false); // no rule applies
    }

    let length = <i32>body_buffer_length;
    const newBody = up.body;
    if (newBody !== null) {
      set_buffer_bytes(BufferTypeValues.HttpRequestBody, 0, <u32>body_buffer_length, newBody.toArrayBuffer());
      length = newBody.len;
    }
    const now = nowSeconds();
    const creds = this.gw.creds[backend.index];
    const auth = backend.auth;
    let path = up.path;
    let secretIdx = -1;
    if (auth.rotates) secretIdx = creds.pickKey(now);
    if (auth.type == "query" && secretIdx >= 0) {
      path += (path.includes("?") ? "&" : "?") + auth.param + "=" + uriEncode(auth.secrets[secretIdx], true);
    }
    const h = stream_context.headers.request;
    h.replace(":path", path);
    h.replace(":authority", backend.host);
    h.replace(this.gw.config!.clusterHeader, backend.cluster);
    h.replace("content-length", length.toString());
    for (let i = 0; i + 1 < up.headers.length; i += 2) h.replace(up.headers[i], up.headers[i + 1]);
    this.keyIndex = secretIdx;
    if ((auth.type == "bearer" || auth.type == "header") && secretIdx >= 0) h.replace(auth.header, auth.secrets[secretIdx]);
    else if (auth.type == "aws-sigv4") {
      // Signed last, over the exact bytes and path that go upstream.
      const bytes = newBody !== null ? newBody.buf : Uint8Array.wrap(raw);
      const signed = creds.sign("POST", path, backend.host, bytes, length, now);
      if (signed === null) {
        this.fail(new ApiError(500, "server_error", "signing_failed", "The gateway could not sign the request for backend " + backend.name + "."));
        return FilterDataStatusValues.StopIterationNoBuffer;
      }
      const set = signed.headersToSet;
      for (let i = 0; i + 1 < set.length; i += 2) h.replace(set[i], set[i + 1]);
    }
    // The cluster header changed: make Envoy pick the route again (§3.9, §3.12).
    clear_route_cache();
    if (auth.usesTokens) {
      const token = creds.currentToken(now);
      if (token.length > 0) {
        h.replace("authorization", "Bearer " + token);
        if (creds.wantsRefresh(now)) this.gw.fetchToken(creds); // refresh ahead of expiry, not waiting
      } else {
        // First token (or expired): wait for it; the request resumes from the token callback.
        if (!this.gw.waitForToken(creds, this)) {
          this.fail(new ApiError(503, "server_error", "upstream_auth_unavailable", "Could not obtain credentials for backend " + backend.name + "."));
          return FilterDataStatusValues.StopIterationNoBuffer;
        }
        this.pending++;
      }
    }
    // Paused until the limit check and/or the token arrive (resumeOne continues the request).
    if (this.pending <= 0) this.obs.sent = monotonicNs();
    return this.pending > 0 ? FilterDataStatusValues.StopIterationAndBuffer : FilterDataStatusValues.Continue;
  }

  onResponseHeaders(_n: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const req = this.req;
    if (this.localStatus != 0 || req === null) return FilterHeadersStatusValues.Continue;
    this.obs.responseHeaders = monotonicNs();
    if (end_of_stream) this.obs.ended = true;
    const h = stream_context.headers.response;
    this.status = <i32>I32.parseInt(h.get(":status"));
    if (this.status == 401 || this.status == 403) {
      // The provider refused our credential: rotate away from that key / drop that token.
      const creds = this.gw.creds[req.backend.index];
      if (this.keyIndex >= 0) creds.markBad(this.keyIndex, nowSeconds());
      if (req.backend.auth.usesTokens) creds.dropToken();
    }
    const enc = h.get("content-encoding");
    if (enc.length > 0 && enc != "identity") {
      // We asked for identity; a provider that compresses anyway is passed through untranslated.
      log(LogLevelValues.warn, "ai-gateway: upstream answered with content-encoding " + enc + "; passing through, usage unknown");
      return FilterHeadersStatusValues.Continue;
    }
    const adm = this.admission;
    if (adm !== null && adm.rule !== null) {
      const pairs = this.limitHeaderPairs(adm);
      for (let i = 0; i + 1 < pairs.length; i += 2) h.replace(pairs[i], pairs[i + 1]);
    }
    const provider = providerFor(req.backend.schema)!;
    const wanted = provider.responseHeaderNames();
    for (let i = 0; i < wanted.length; i++) {
      const v = h.get(wanted[i]);
      if (v.length > 0) { req.responseHeaders.push(wanted[i]); req.responseHeaders.push(v); }
    }
    // A Messages request translated to chat: the provider reads its headers from the chat request.
    if (req.chat !== null) req.chat!.responseHeaders = req.responseHeaders;
    const ct = h.get("content-type").toLowerCase();
    const handler = req.endpoint == Endpoint.Messages ? messagesResponseHandler(provider, req, this.status, ct) : provider.response(req, this.status, ct);
    if (end_of_stream) {
      // No body will follow (an error status with none, a 200 without its JSON): the client gets what
      // the handler makes of an empty body (the error envelope, an error event), not an empty answer.
      this.handler = handler;
      const out = new ByteBuilder(256);
      if (!handler.onBody(EMPTY, true, out) || out.len == 0) return FilterHeadersStatusValues.Continue;
      const replyCt = handler.contentType.length ? handler.contentType : h.get("content-type");
      this.reply(handler.status != 0 ? handler.status : this.status, out.toArrayBuffer(), "ai_gateway_empty_upstream_body", [], replyCt);
      return FilterHeadersStatusValues.StopIteration;
    }
    this.handler = handler;
    // A whole-body translation may change status, type and length: hold the headers until the
    // body is done (allow_on_headers_stop_iteration keeps them writable, §3.2/§3.4).
    if (handler.wholeBody) return FilterHeadersStatusValues.StopIteration;
    if (handler.rewrites) h.remove("content-length");
    this.applyOverrides(handler);
    return FilterHeadersStatusValues.Continue;
  }

  private applyOverrides(handler: ResponseHandler): void {
    const h = stream_context.headers.response;
    if (handler.status != 0 && handler.status != this.status) h.replace(":status", handler.status.toString());
    if (handler.contentType.length) h.replace("content-type", handler.contentType);
  }

  onResponseBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    this.responseBytes += <i64>body_buffer_length;
    if (end_of_stream) this.obs.ended = true;
    // Time to first token is a streaming metric: no clock read for whole-body answers.
    if (body_buffer_length > 0 && this.obs.firstByte == 0 && this.req !== null && this.req!.stream) this.obs.firstByte = monotonicNs();
    if (this.dropRest) {
      if (body_buffer_length > 0) set_buffer_bytes(BufferTypeValues.HttpResponseBody, 0, <u32>body_buffer_length, new ArrayBuffer(0));
      return FilterDataStatusValues.Continue;
    }
    const handler = this.handler;
    if (handler === null) return FilterDataStatusValues.Continue;
    if (handler.wholeBody) {
      if (<i64>body_buffer_length > this.gw.config!.maxResponseBytes) {
        this.handler = null;
        if (!handler.rewrites) {
          log(LogLevelValues.warn, "ai-gateway: response larger than max_response_bytes; passing through, usage unknown");
          return FilterDataStatusValues.Continue;
        }
        // A body we would have to translate cannot go out untranslated (the client would get the
        // provider's format): 502 instead; the rest of the upstream body is dropped.
        log(LogLevelValues.warn, "ai-gateway: response larger than max_response_bytes; answering 502, usage unknown");
        const e = new ApiError(502, "upstream_error", "upstream_response_too_large", "The backend's response exceeds max_response_bytes (" + this.gw.config!.maxResponseBytes.toString() + ").");
        const body = e.render(this.anthropicErrors);
        set_buffer_bytes(BufferTypeValues.HttpResponseBody, 0, <u32>body_buffer_length, body);
        const h = stream_context.headers.response;
        h.replace(":status", "502");
        h.replace("content-type", "application/json");
        h.replace("content-length", body.byteLength.toString());
        this.clientStatus = 502;
        this.dropRest = true;
        return FilterDataStatusValues.Continue;
      }
      if (!end_of_stream) return FilterDataStatusValues.StopIterationAndBuffer;
    }
    const chunk = body_buffer_length > 0
      ? Uint8Array.wrap(get_buffer_bytes(BufferTypeValues.HttpResponseBody, 0, <u32>body_buffer_length))
      : EMPTY;
    let out = this.out;
    if (out === null) { out = new ByteBuilder(1024); this.out = out; }
    out.reset();
    if (this.cut) {
      // Ended at the budget: the provider finishes (its usage is still counted), the client has [DONE].
      if (body_buffer_length > 0) set_buffer_bytes(BufferTypeValues.HttpResponseBody, 0, <u32>body_buffer_length, new ArrayBuffer(0));
      handler.onBody(chunk, end_of_stream, out);
      if (end_of_stream) this.stateFinalUsage(handler);
      return FilterDataStatusValues.Continue;
    }
    let replaced = handler.onBody(chunk, end_of_stream, out);
    const req = this.req;
    if (replaced && req !== null && req.reframe && !handler.wholeBody) this.streamBudget(out);
    if (replaced) set_buffer_bytes(BufferTypeValues.HttpResponseBody, 0, <u32>body_buffer_length, out.toArrayBuffer());
    if (handler.wholeBody) {
      if (replaced) stream_context.headers.response.replace("content-length", out.len.toString());
      this.applyOverrides(handler);
    }
    if (end_of_stream) this.stateFinalUsage(handler);
    return FilterDataStatusValues.Continue;
  }

  /** Usage for access logs, once, as soon as the provider's report is complete. */
  private stateFinalUsage(handler: ResponseHandler): void {
    if (this.obs.usageStated || !handler.usage.reported) return;
    this.obs.usageStated = true;
    stateUsage(handler.usage);
  }

  /** What this request cost: reported usage, else (abort, broken stream) an estimate, else nothing. */
  private actualUsage(): Usage {
    const handler = this.handler;
    if (handler !== null && handler.usage.final) return handler.usage;
    const u = new Usage();
    const est = this.estimated;
    // No final usage: the provider never answered (or refused): nothing was spent upstream,
    // unless a response was streaming when it stopped (client abort, broken stream); then count
    // the input and what was streamed, never less than what the provider reported so far.
    if (est !== null && this.localStatus == 0 && this.status >= 200 && this.status < 300 && this.responseBytes > 0) {
      const lc = this.gw.config!.limits;
      const bpt = lc !== null ? lc.bytesPerToken : 4;
      u.input = est.input;
      // Counted delta text when the stream was re-framed; otherwise every streamed byte (an over-estimate).
      u.output = this.outputTextBytes > 0 ? this.outputTokens() : (this.responseBytes + bpt - 1) / bpt;
      if (handler !== null && handler.usage.reported) {
        const r = handler.usage;
        if (r.input > 0) { u.input = r.input; u.cachedInput = r.cachedInput; u.cacheWrite = r.cacheWrite; }
        if (r.output > u.output) u.output = r.output;
      }
      u.total = u.input + u.output;
    }
    return u;
  }

  /** Output accounting on a re-framed client stream: cut at the budget, usage comment before [DONE]. */
  private streamBudget(out: ByteBuilder): void {
    const head = lastChunkHead(out.buf, out.len);
    if (head !== null) this.lastHead = head;
    const done = indexOfBytes(out.buf, DONE_LINE, 0, out.len);
    this.outputTextBytes += deltaTextBytes(out.buf, 0, done >= 0 ? done : out.len);
    const lc = this.gw.config!.limits;
    if (done < 0 && this.outputBudget >= 0 && this.outputTokens() > this.outputBudget) { this.endAtBudget(out); return; }
    if (done >= 0 && lc !== null && lc.usageEvent) {
      // Insert the usage comment before [DONE].
      const tail = new ByteBuilder(out.len - done + 16);
      tail.bytes(out.buf, done, out.len);
      out.len = done;
      this.usageComment(out);
      out.bytes(tail.buf, 0, tail.len);
    }
  }

  /** The one info line per request: who, what, where, the outcome and the usage. */
  private logRequest(status: i32): void {
    const req = this.req;
    let line = "ai-gateway: request client=" + this.client + " endpoint=" + logSafe(this.path) + " model=" + (req !== null ? logSafe(req.model) : "-") +
      " backend=" + (req !== null ? req.backend.name : "-") + " status=" + status.toString();
    const handler = this.handler;
    if (handler !== null && handler.usage.reported) {
      const u = handler.usage;
      line += " input_tokens=" + u.input.toString() + " output_tokens=" + u.output.toString() +
        " cached_tokens=" + u.cachedInput.toString() + " reasoning_tokens=" + u.reasoning.toString();
    } else line += " usage=unknown";
    if (req !== null) line += " stream=" + (req.stream ? "true" : "false");
    log(LogLevelValues.info, line);
  }

  onLog(): void {
    const adm = this.admission;
    const limiter = this.gw.limiter;
    if (adm !== null && limiter !== null && adm.ok) limiter.commit(adm, this.actualUsage(), nowSeconds());
    const global = this.gw.global;
    const req0 = this.req;
    if (global !== null && req0 !== null && this.globalRules.length > 0 && (adm === null || adm.ok)) {
      const usage = this.actualUsage();
      const hits = new Array<i64>(this.globalRules.length);
      let any = false;
      for (let i = 0; i < hits.length; i++) { hits[i] = costOf(this.globalRules[i].cost, usage); if (hits[i] > 0) any = true; }
      const bytes = any ? global.encode(this.globalRules, this.facts(req0), hits) : null;
      // Owned by the root context, so the debit outlives this stream (§4.4).
      if (bytes !== null) this.gw.grpcCall(global.cfg.rlsCluster, RLS_SERVICE, RLS_METHOD, [], changetype<ArrayBuffer>(bytes.buffer),
        global.cfg.timeoutMs * 10, this.gw, onDebitAnswer);
    }
    if (this.endpoint == Endpoint.Unknown || this.endpoint == Endpoint.Models) return;
    const req = this.req;
    const handler0 = this.handler;
    const status = this.localStatus != 0 ? this.localStatus : this.clientStatus != 0 ? this.clientStatus : handler0 !== null && handler0.status != 0 ? handler0.status : this.status;
    // The request line is built only when Envoy's wasm logger would print it (one host call).
    if (get_log_level() <= LogLevelValues.info) this.logRequest(status);
    const handler = this.handler;
    if (handler !== null) this.stateFinalUsage(handler); // ended early: what was reported so far
    const adm1 = this.admission;
    this.gw.metrics.finish(this.obs, monotonicNs(), this.endpoint == Endpoint.Embeddings ? OP_EMBEDDINGS : OP_CHAT,
      req !== null ? req.model : null, req !== null ? req.backend.index : -1, this.client, status, this.localStatus != 0,
      handler !== null ? handler.usage : null, adm1 === null ? LIMIT_NONE : adm1.ok ? LIMIT_OK : LIMIT_DENIED,
      adm1 !== null && adm1.rule !== null ? adm1.rule!.name : "none", req !== null && req.stream);
  }
}
