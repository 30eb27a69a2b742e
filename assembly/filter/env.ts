// Environment variables of the Wasm VM (Envoy: vm_config.environment_variables), read through
// WASI environ_sizes_get / environ_get, which Envoy provides (sources: proxy-wasm C++ host: WASI). This is where
// production secrets come from, so values are never logged.

import { Env } from "../config/config";

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "environ_sizes_get")
declare function environ_sizes_get(count_ptr: usize, size_ptr: usize): i32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "environ_get")
declare function environ_get(environ_ptr: usize, buf_ptr: usize): i32;

export class WasiEnv extends Env {
  private vars: Map<string, string> = new Map();

  /** Reads the whole environment once (call from on_configure, never from top-level code). */
  load(): void {
    const sizes = new ArrayBuffer(8);
    const sp = changetype<usize>(sizes);
    if (environ_sizes_get(sp, sp + 4) != 0) return;
    const count = load<u32>(sp), size = load<u32>(sp + 4);
    if (count == 0 || size == 0 || count > 65536 || size > (16 << 20)) return;
    const ptrs = new ArrayBuffer(<i32>count * 4);
    const buf = new ArrayBuffer(<i32>size);
    const pp = changetype<usize>(ptrs), bp = changetype<usize>(buf);
    if (environ_get(pp, bp) != 0) return;
    const end = bp + size;
    for (let i: u32 = 0; i < count; i++) {
      const s = <usize>load<u32>(pp + (<usize>i << 2));
      if (s < bp || s >= end) continue;
      let e = s;
      while (e < end && load<u8>(e) != 0) e++;
      const entry = String.UTF8.decodeUnsafe(s, e - s);
      const eq = entry.indexOf("=");
      if (eq > 0) this.vars.set(entry.substring(0, eq), entry.substring(eq + 1));
    }
  }

  get(name: string): string | null {
    return this.vars.has(name) ? this.vars.get(name) : null;
  }
}
