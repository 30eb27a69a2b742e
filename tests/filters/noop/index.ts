// The no-op filter: the benchmark's host-cost baseline. It is a complete proxy-wasm filter built
// with the same runtime and compiler options as the gateway, so the time the host spends calling
// into it (context creation, every on_* callback, the runtime's dispatch) is what the gateway
// pays before doing any work of its own. Every callback is the runtime's default: Continue.
export * from "@solo-io/proxy-runtime/assembly/proxy";
import { RootContext, Context, registerRootContext } from "@solo-io/proxy-runtime/assembly";

class NoopRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new Context(context_id, this);
  }
}

registerRootContext((context_id: u32): RootContext => new NoopRoot(context_id), "noop");
