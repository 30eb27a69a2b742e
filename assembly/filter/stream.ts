// Stream context: one per HTTP request. Host glue only: it runs the stages of assembly/pipeline
// in order and applies what they decide to the host (headers, bodies, local replies, gRPC calls).
//
// Request:  identify (headers) → route → admit → translate → authorize (body)
// Response: translate (headers, body as it flows) → meter (body) → commit (log)
//
// The request headers are held (StopIteration) until the body decided the backend; the request
// resumes when admission and the first OAuth token (if any) are in. Downstream, translate runs
// before admit in the same callback: a request the provider cannot accept is refused with 400
// before it touches a counter or the limit service (docs/design.md, "Stages").

import {
  Context, RootContext, log, LogLevelValues, stream_context, send_local_response, HeaderPair, Headers,
  FilterHeadersStatusValues, FilterDataStatusValues, GrpcStatusValues, get_buffer_bytes, set_buffer_bytes,
  BufferTypeValues, clear_route_cache, continue_request, BaseContext, WasmResultValues, get_log_level,
} from "@solo-io/proxy-runtime/assembly";
import { ApiError } from "../errors";
import { ByteBuilder } from "../util/bytes";
import { ClientRequest, Endpoint, ResponseHandler, UpstreamRequest } from "../providers/provider";
import { GatewayRoot, nowSeconds } from "./root";
import { TokenWaiter } from "./credentials";
import { decodeRateLimitResponse, RLS_SERVICE, RLS_METHOD } from "../limits/rls";
import { Observation, OP_CHAT, OP_EMBEDDINGS, LIMIT_NONE, LIMIT_OK, LIMIT_DENIED } from "./metrics";
import { stateClient, statePath, stateRoute, stateLimit, stateUsage, clientStatus } from "./access";
import { StreamBudget } from "./budget";
import { replaceBody } from "./body";
import { monotonicNs } from "./clock";
import { HostRequestHeaders, HostResponseHeaders } from "./host_headers";
import { Identity, identify, logSafe, tooLarge } from "../pipeline/identify";
import { answerModels } from "../pipeline/models";
import { route } from "../pipeline/route";
import { Admit, factsOf, estimateOf, outputBudget, limitHeaderPairs, rateLimitedError, rateLimitedHeaders } from "../pipeline/admit";
import { translateRequest, translateResponse } from "../pipeline/translate";
import { authorize, credentialRefused } from "../pipeline/authorize";
import { Meter } from "../pipeline/meter";
import { commitLocal, globalDebit } from "../pipeline/commit";

const EMPTY = new Uint8Array(0);

function onCheckAnswer(origin: BaseContext, grpcStatus: u32, message: ArrayBuffer): void {
  changetype<GatewayStream>(origin).checkAnswered(grpcStatus, message);
}

function onDebitAnswer(_origin: BaseContext, grpcStatus: u32, _message: ArrayBuffer): void {
  if (grpcStatus != 0) log(LogLevelValues.warn, "ai-gateway: rate limit debit failed with gRPC status " + grpcStatus.toString());
}

export class GatewayStream extends Context implements TokenWaiter {
  private gw: GatewayRoot;
  // Typed state of the stages, in order.
  private id: Identity = new Identity();
  private req: ClientRequest | null = null;
  private admit: Admit = new Admit();
  private handler: ResponseHandler | null = null;
  private meter: Meter | null = null;

  /** Status of a local reply we sent; its response callbacks then pass straight through (sources: Envoy wasm context). */
  private localStatus: i32 = 0;
  /** Upstream's status. */
  private status: i32 = 0;
  private out: ByteBuilder | null = null;
  /** Index of the backend API key used, for 401/403 penalties (-1: none). */
  private keyIndex: i32 = -1;
  /** Asynchronous steps the paused request waits for (limit check, first OAuth token). */
  private pending: i32 = 0;
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

  /** Client identity (for tests and logs). */
  get client(): string { return this.id.client; }

  private reply(status: i32, body: ArrayBuffer, details: string, extra: string[] = [], contentType: string = "application/json"): void {
    this.localStatus = status;
    this.obs.localDetails = details;
    const headers: Headers = [];
    headers.push(new HeaderPair(String.UTF8.encode("content-type"), String.UTF8.encode(contentType)));
    for (let i = 0; i + 1 < extra.length; i += 2) headers.push(new HeaderPair(String.UTF8.encode(extra[i]), String.UTF8.encode(extra[i + 1])));
    send_local_response(<u32>status, details, body, headers, GrpcStatusValues.InvalidCode);
  }

  private fail(e: ApiError): void { this.reply(e.status, e.render(this.id.anthropicErrors), "ai_gateway_" + (e.code.length ? e.code : "error")); }

  // ---- request: identify ------------------------------------------------------------------------

  onRequestHeaders(_n: u32, end_of_stream: bool): FilterHeadersStatusValues {
    this.obs.start = monotonicNs();
    const cfg = this.gw.config;
    if (cfg === null) { // cannot happen after a successful on_configure; answer rather than trap
      this.fail(new ApiError(500, "server_error", "not_configured", "The gateway is not configured."));
      return FilterHeadersStatusValues.StopIteration;
    }
    const id = this.id;
    // The path the client sent, for access logs (the filter may rewrite :path for the provider).
    statePath(stream_context.headers.request.get(":path"));
    const err = identify(new HostRequestHeaders(), cfg, id, end_of_stream);
    if (id.identified) stateClient(id.client);
    if (err !== null) { this.fail(err); return FilterHeadersStatusValues.StopIteration; }
    if (id.endpoint == Endpoint.Models) {
      const m = answerModels(cfg, id.path);
      if (m.error !== null) this.fail(m.error!);
      else this.reply(200, m.body!.toArrayBuffer(), "ai_gateway_models");
      return FilterHeadersStatusValues.StopIteration;
    }
    // Hold the headers until the body decided the backend (needs allow_on_headers_stop_iteration, sources: proxy-wasm C++ host: filter status).
    return FilterHeadersStatusValues.StopIteration;
  }

  // ---- request: route → admit → translate → authorize -------------------------------------------

  onRequestBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    if (this.localStatus != 0) return FilterDataStatusValues.StopIterationNoBuffer;
    const cfg = this.gw.config!;
    if (<i64>body_buffer_length > cfg.maxRequestBytes) { this.fail(tooLarge(cfg)); return FilterDataStatusValues.StopIterationNoBuffer; }
    if (!end_of_stream) return FilterDataStatusValues.StopIterationAndBuffer;
    const raw = get_buffer_bytes(BufferTypeValues.HttpRequestBody, 0, <u32>body_buffer_length);

    // route
    const routed = route(Uint8Array.wrap(raw), this.id, this.gw.router!, cfg.limits, nowSeconds());
    if (routed.error !== null) { this.fail(routed.error!); return FilterDataStatusValues.StopIterationNoBuffer; }
    const req = routed.req!;
    const target = req.rule;
    const backend = target.backend;

    // translate (request)
    const up = new UpstreamRequest();
    const terr = translateRequest(req, target, up);
    if (terr !== null) { this.fail(terr); return FilterDataStatusValues.StopIterationNoBuffer; }
    this.req = req;
    this.meter = new Meter(cfg.limits, this.admit, req);
    stateRoute(logSafe(req.model), backend.name);

    // admit
    if (!this.admitRequest(req, <i64>body_buffer_length)) return FilterDataStatusValues.StopIterationNoBuffer;

    // authorize
    let length = <i32>body_buffer_length;
    const newBody = up.body;
    if (newBody !== null) {
      replaceBody(BufferTypeValues.HttpRequestBody, body_buffer_length, newBody);
      length = newBody.len;
    }
    const now = nowSeconds();
    const creds = this.gw.creds[backend.index];
    const bytes = newBody !== null ? newBody.buf : Uint8Array.wrap(raw);
    const auth = authorize(backend, creds, up, bytes, length, cfg.clusterHeader, now);
    if (auth.error !== null) { this.fail(auth.error!); return FilterDataStatusValues.StopIterationNoBuffer; }
    this.keyIndex = auth.keyIndex;
    const h = stream_context.headers.request;
    for (let i = 0; i + 1 < auth.headers.length; i += 2) h.replace(auth.headers[i], auth.headers[i + 1]);
    // The cluster header changed: make Envoy pick the route again (sources: Envoy wasm context; Envoy wasm foreign functions).
    clear_route_cache();
    if (auth.refreshToken) this.gw.fetchToken(creds); // refresh ahead of expiry, not waiting
    if (auth.waitForToken) {
      // First token (or expired): wait for it; the request resumes from the token callback.
      if (!this.gw.waitForToken(creds, this)) {
        this.fail(new ApiError(503, "server_error", "upstream_auth_unavailable", "Could not obtain credentials for backend " + backend.name + "."));
        return FilterDataStatusValues.StopIterationNoBuffer;
      }
      this.pending++;
    }
    // Paused until the limit check and/or the token arrive (resumeOne continues the request).
    if (this.pending <= 0) this.obs.sent = monotonicNs();
    return this.pending > 0 ? FilterDataStatusValues.StopIterationAndBuffer : FilterDataStatusValues.Continue;
  }

  /** The admit stage: local admission now, or the global check started. False: the client has its answer. */
  private admitRequest(req: ClientRequest, requestBytes: i64): bool {
    const lc = this.gw.config!.limits;
    const admit = this.admit;
    if (lc !== null) admit.estimated = estimateOf(req, requestBytes, lc);
    const limiter = this.gw.limiter;
    if (limiter === null && this.gw.global === null) stateLimit(true, false);
    if (limiter !== null) {
      const adm = limiter.admit(factsOf(this.id, req), admit.estimated!, nowSeconds());
      admit.admission = adm;
      stateLimit(adm.ok);
      if (!adm.ok) { this.rateLimited(); return false; }
      admit.outputBudget = outputBudget(adm, true, admit.estimated, lc, req);
    }
    const global = this.gw.global;
    if (global !== null) {
      const f = factsOf(this.id, req);
      const rules = global.rulesFor(f);
      const bytes = global.encode(rules, f, null);
      if (bytes !== null) {
        admit.globalRules = rules;
        const r = this.gw.grpcCall(global.cfg.rlsCluster, RLS_SERVICE, RLS_METHOD, [], changetype<ArrayBuffer>(bytes.buffer),
          global.cfg.timeoutMs, this, onCheckAnswer);
        if (r == WasmResultValues.Ok) this.pending++;
        else if (!this.limitServiceFailed("the rate limit service cluster \"" + global.cfg.rlsCluster + "\" cannot be called")) return false;
      } else stateLimit(true, false); // no rule applies
    }
    return true;
  }

  private rateLimited(): void {
    const adm = this.admit.admission!;
    this.reply(429, rateLimitedError(adm).render(this.id.anthropicErrors), "ai_gateway_rate_limited", rateLimitedHeaders(adm));
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
    const admit = this.admit;
    const adm = this.gw.global!.decide(admit.globalRules, res, nowSeconds(), admit.estimated);
    admit.admission = adm;
    stateLimit(adm.ok);
    if (!adm.ok) { this.rateLimited(); return; }
    admit.outputBudget = outputBudget(adm, false, admit.estimated, this.gw.config!.limits, this.req);
    this.resumeOne();
  }

  waiterId(): u32 { return this.context_id; }

  tokenReady(token: string): void {
    if (this.localStatus != 0) return;
    stream_context.headers.request.replace("authorization", "Bearer " + token);
    this.resumeOne();
  }

  tokenFailed(message: string): void {
    this.fail(new ApiError(503, "server_error", "upstream_auth_unavailable", message));
  }

  /** One awaited step finished; continue the request when none is left. */
  private resumeOne(): void {
    if (this.localStatus != 0) return;
    if (--this.pending <= 0) { this.pending = 0; this.obs.sent = monotonicNs(); continue_request(); }
  }

  // ---- response: translate → meter --------------------------------------------------------------

  onResponseHeaders(_n: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const req = this.req;
    if (this.localStatus != 0 || req === null) return FilterHeadersStatusValues.Continue;
    this.obs.responseHeaders = monotonicNs();
    if (end_of_stream) this.obs.ended = true;
    const h = stream_context.headers.response;
    this.status = <i32>I32.parseInt(h.get(":status"));
    // The provider refused our credential: rotate away from that key / drop that token.
    if (this.status == 401 || this.status == 403) credentialRefused(req.backend, this.gw.creds[req.backend.index], this.keyIndex, nowSeconds());
    const enc = h.get("content-encoding");
    if (enc.length > 0 && enc != "identity") {
      // We asked for identity; a provider that compresses anyway is passed through untranslated.
      log(LogLevelValues.warn, "ai-gateway: upstream answered with content-encoding " + enc + "; passing through, usage unknown");
      return FilterHeadersStatusValues.Continue;
    }
    const adm = this.admit.admission;
    if (adm !== null && adm.rule !== null) {
      const pairs = limitHeaderPairs(adm);
      for (let i = 0; i + 1 < pairs.length; i += 2) h.replace(pairs[i], pairs[i + 1]);
    }
    const handler = translateResponse(req, this.status, new HostResponseHeaders());
    this.handler = handler;
    // meter: chat streams are metered per chunk the handler writes (filter/budget.ts), wherever
    // Envoy's body callbacks split them; Responses streams meter their own events (meter.ts).
    const lc = this.gw.config!.limits;
    const meter = this.meter;
    if (req.reframe && lc !== null && !handler.wholeBody && req.endpoint != Endpoint.Responses && meter !== null) {
      const m = new StreamBudget(this.admit.outputBudget, lc.bytesPerToken, lc.usageEvent && req.endpoint != Endpoint.Messages,
        req.clientWantsUsage(), this.admit.estimated, this.admit.admission, this.id.client);
      m.handler = handler;
      if (handler.meterWith(m)) meter.budget = m;
    }
    if (end_of_stream) {
      // No body will follow (an error status with none, a 200 without its JSON): the client gets what
      // the handler makes of an empty body (the error envelope, an error event), not an empty answer.
      const out = new ByteBuilder(256);
      if (!handler.onBody(EMPTY, true, out) || out.len == 0) return FilterHeadersStatusValues.Continue;
      const replyCt = handler.contentType.length ? handler.contentType : h.get("content-type");
      this.reply(handler.status != 0 ? handler.status : this.status, out.toArrayBuffer(), "ai_gateway_empty_upstream_body", [], replyCt);
      return FilterHeadersStatusValues.StopIteration;
    }
    // A whole-body translation may change status, type and length: hold the headers until the
    // body is done (allow_on_headers_stop_iteration keeps them writable, sources: proxy-wasm C++ host: filter status; Envoy wasm context).
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
    const meter = this.meter;
    if (meter !== null) meter.responseBytes += <i64>body_buffer_length;
    if (end_of_stream) this.obs.ended = true;
    // Time to first token is a streaming metric: no clock read for whole-body answers.
    if (body_buffer_length > 0 && this.obs.firstByte == 0 && this.req !== null && this.req!.stream) this.obs.firstByte = monotonicNs();
    if (this.dropRest) {
      if (body_buffer_length > 0) set_buffer_bytes(BufferTypeValues.HttpResponseBody, 0, <u32>body_buffer_length, new ArrayBuffer(0));
      return FilterDataStatusValues.Continue;
    }
    const handler = this.handler;
    if (handler === null || meter === null) return FilterDataStatusValues.Continue;
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
        const body = e.render(this.id.anthropicErrors);
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
    // A whole body is translated into a builder sized for it up front: growing by doubling would
    // hold up to three times the body at once (docs/design.md "Memory").
    let out = this.out;
    if (handler.wholeBody) out = new ByteBuilder(chunk.length + 4096);
    else if (out === null) { out = new ByteBuilder(1024); this.out = out; }
    out.reset();
    if (meter.cut) {
      // Ended at the budget: the provider finishes (its usage is still counted), the client has [DONE].
      if (body_buffer_length > 0) set_buffer_bytes(BufferTypeValues.HttpResponseBody, 0, <u32>body_buffer_length, new ArrayBuffer(0));
      handler.onBody(chunk, end_of_stream, out);
      if (end_of_stream) this.stateFinalUsage(handler);
      return FilterDataStatusValues.Continue;
    }
    // translate (response), metered per event: once a chat stream's meter ends the client's stream
    // at its budget, body() drops whatever the handler writes after it, here and in later calls.
    const replaced = handler.body(chunk, end_of_stream, out);
    // meter (Responses streams)
    const req = this.req;
    if (replaced && req !== null && req.reframe && !handler.wholeBody && meter.streamBudget(out, handler)) {
      log(LogLevelValues.info, "ai-gateway: stream for client=" + this.id.client + " cut at its token budget (" + this.admit.outputBudget.toString() + " output tokens)");
    }
    if (replaced) replaceBody(BufferTypeValues.HttpResponseBody, body_buffer_length, out);
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

  // ---- commit ------------------------------------------------------------------------------------

  onLog(): void {
    const req = this.req;
    const handler = this.handler;
    const meter = this.meter;
    if (meter !== null) {
      const streamed = this.localStatus == 0 && this.status >= 200 && this.status < 300;
      const usage = meter.actualUsage(handler, streamed);
      commitLocal(this.gw.limiter, this.admit, usage, nowSeconds());
      const global = this.gw.global;
      const bytes = globalDebit(global, this.admit, this.id, req, usage);
      // Owned by the root context, so the debit outlives this stream (sources: Envoy wasm context).
      if (bytes !== null) this.gw.grpcCall(global!.cfg.rlsCluster, RLS_SERVICE, RLS_METHOD, [], changetype<ArrayBuffer>(bytes.buffer),
        global!.cfg.timeoutMs * 10, this.gw, onDebitAnswer);
    }
    const ep = this.id.endpoint;
    if (ep == Endpoint.Unknown || ep == Endpoint.Models) return;
    // What the client got. Envoy's response.code differs from the provider's status when Envoy
    // answered itself after the filter let the response go (route timeout 504, a held body over
    // the buffer limit 500); otherwise the filter's own answer or rewrite decides.
    const sent = clientStatus();
    const status = this.localStatus != 0 ? this.localStatus : sent != 0 && sent != this.status ? sent
      : this.clientStatus != 0 ? this.clientStatus : handler !== null && handler.status != 0 ? handler.status : this.status;
    // The request line is built only when Envoy's wasm logger prints info (docs/performance.md).
    if (get_log_level() <= LogLevelValues.info) this.logRequest(status, req, handler);
    if (handler !== null) this.stateFinalUsage(handler); // ended early: what was reported so far
    const adm = this.admit.admission;
    this.gw.metrics.finish(this.obs, monotonicNs(), ep == Endpoint.Embeddings ? OP_EMBEDDINGS : OP_CHAT,
      req !== null ? req.model : null, req !== null ? req.backend.index : -1, this.id.client, status, this.localStatus != 0,
      handler !== null ? handler.usage : null, adm === null ? LIMIT_NONE : adm.ok ? LIMIT_OK : LIMIT_DENIED,
      adm !== null && adm.rule !== null ? adm.rule!.name : "none", req !== null && req.stream);
  }

  /** One info line per request: client, endpoint, model, backend, status, usage. */
  private logRequest(status: i32, req: ClientRequest | null, handler: ResponseHandler | null): void {
    let line = "ai-gateway: request client=" + this.id.client + " endpoint=" + logSafe(this.id.path) + " model=" + (req !== null ? logSafe(req.model) : "-") +
      " backend=" + (req !== null ? req.backend.name : "-") + " status=" + status.toString();
    if (handler !== null && handler.usage.reported) {
      const u = handler.usage;
      line += " input_tokens=" + u.input.toString() + " output_tokens=" + u.output.toString() +
        " cached_tokens=" + u.cachedInput.toString() + " reasoning_tokens=" + u.reasoning.toString();
    } else line += " usage=unknown";
    if (req !== null) line += " stream=" + (req.stream ? "true" : "false");
    log(LogLevelValues.info, line);
  }
}
