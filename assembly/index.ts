// Filter entry point: the proxy-wasm exports and the root context registration. Top-level code
// runs in `_initialize` (asconfig exportStart) and makes no host calls (sources: proxy-wasm C++ host: linking).

export * from "@solo-io/proxy-runtime/assembly/proxy";
import { registerRootContext, RootContext } from "@solo-io/proxy-runtime/assembly";
import { GatewayRoot } from "./filter/root";

// The root_id configured in Envoy (PluginConfig.root_id) must be "ai_gateway".
registerRootContext((context_id: u32): RootContext => new GatewayRoot(context_id), "ai_gateway");
