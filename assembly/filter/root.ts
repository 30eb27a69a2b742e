// Root context: owns the validated configuration for one plugin on one worker VM.

import {
  RootContext, Context, log, LogLevelValues, get_buffer_bytes, BufferTypeValues,
} from "@solo-io/proxy-runtime/assembly";
import { Config, parseConfig } from "../config/config";
import { Router } from "../routing/router";
import { providerFor } from "../providers/registry";
import { WasiEnv } from "./env";
import { GatewayStream } from "./stream";

export class GatewayRoot extends RootContext {
  config: Config | null = null;
  router: Router | null = null;

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
    for (let i = 0; i < cfg.backends.length; i++) {
      if (providerFor(cfg.backends[i].schema) === null) {
        log(LogLevelValues.error, "ai-gateway: invalid plugin configuration: backends[" + i.toString() + "].schema: no provider module");
        return false;
      }
    }
    this.config = cfg;
    this.router = new Router(cfg);
    log(LogLevelValues.info, "ai-gateway: configured " + cfg.backends.length.toString() + " backends, " +
      cfg.models.length.toString() + " model routes");
    return true;
  }

  createContext(context_id: u32): Context {
    return new GatewayStream(context_id, this);
  }
}
