// Root context: owns the validated configuration for one plugin on one worker VM.

import {
  RootContext, Context, log, LogLevelValues, get_buffer_bytes, BufferTypeValues, get_current_time_nanoseconds,
} from "@solo-io/proxy-runtime/assembly";
import { Config, LimitMode, parseConfig } from "../config/config";
import { Router } from "../routing/router";
import { WasiEnv } from "./env";
import { GatewayStream } from "./stream";
import { BackendCredentials, TokenWaiter } from "./credentials";
import { LocalLimiter, GlobalLimiter } from "./limits";
import { Metrics } from "./metrics";

/** Unix seconds from the host clock. */
export function nowSeconds(): i64 { return <i64>(get_current_time_nanoseconds() / 1000000000); }

export class GatewayRoot extends RootContext {
  config: Config | null = null;
  router: Router | null = null;
  /** Local-mode token limits (null: no limits, or global mode). */
  limiter: LocalLimiter | null = null;
  /** Global-mode token limits on the rate limit service (null: no limits, or local mode). */
  global: GlobalLimiter | null = null;
  /** Per backend (by Backend.index): keys, signer, tokens. */
  creds: BackendCredentials[] = [];
  /** Stat ids of this VM (metrics.ts). */
  metrics: Metrics = new Metrics([], [], false);
  /** http_call tokens of token fetches in flight → the backend they are for. */
  private tokenCalls: Map<u32, BackendCredentials> = new Map();

  /**
   * Makes `waiter` wait for the backend's OAuth token, starting a fetch if none is running.
   * Returns false when no fetch could be started (the caller answers the client).
   */
  waitForToken(c: BackendCredentials, waiter: TokenWaiter): bool {
    if (!c.fetching && !this.fetchToken(c)) return false;
    c.waiters.push(waiter);
    return true;
  }

  /** Starts a token fetch (also used for refreshes ahead of expiry). */
  fetchToken(c: BackendCredentials): bool {
    const t = c.startFetch(nowSeconds());
    if (t < 0) return false;
    this.tokenCalls.set(<u32>t, c);
    return true;
  }

  onHttpCallResponse(token: u32, headers: u32, body_size: u32, trailers: u32): void {
    if (this.tokenCalls.has(token)) {
      const c = this.tokenCalls.get(token);
      this.tokenCalls.delete(token);
      c.onTokenResponse(headers, body_size, nowSeconds());
      return;
    }
    super.onHttpCallResponse(token, headers, body_size, trailers);
  }

  onConfigure(configuration_size: u32): bool {
    if (configuration_size == 0) {
      log(LogLevelValues.error, "ai-gateway: invalid plugin configuration: configuration: empty (expected a JSON object)");
      return false;
    }
    const raw = get_buffer_bytes(BufferTypeValues.PluginConfiguration, 0, configuration_size);
    const env = new WasiEnv();
    env.load();
    const res = parseConfig(Uint8Array.wrap(raw), env);
    const cfg = res.config;
    if (cfg === null) {
      log(LogLevelValues.error, "ai-gateway: invalid plugin configuration: " + res.error);
      return false;
    }
    this.config = cfg;
    this.router = new Router(cfg);
    const creds = new Array<BackendCredentials>();
    for (let i = 0; i < cfg.backends.length; i++) creds.push(new BackendCredentials(cfg.backends[i]));
    this.creds = creds;
    const names = new Array<string>(), providers = new Array<string>();
    for (let i = 0; i < cfg.backends.length; i++) {
      names.push(cfg.backends[i].name);
      providers.push(cfg.backends[i].semconv);
    }
    this.metrics = new Metrics(names, providers, cfg.clientHeader.length > 0);
    const lim = cfg.limits;
    if (lim !== null && lim.mode == LimitMode.Local) this.limiter = new LocalLimiter(lim);
    if (lim !== null && lim.mode == LimitMode.Global) this.global = new GlobalLimiter(lim);
    log(LogLevelValues.info, "ai-gateway: configured " + cfg.backends.length.toString() + " backends, " +
      cfg.models.length.toString() + " model routes");
    return true;
  }

  createContext(context_id: u32): Context {
    return new GatewayStream(context_id, this);
  }
}
