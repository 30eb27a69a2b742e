// Monotonic time for latency metrics. proxy_get_current_time_nanoseconds is the wall clock
// (Envoy: system time, which can step); WASI clock_time_get with CLOCK_MONOTONIC (id 1) is
// provided by Envoy under both WASI module names (sources: proxy-wasm C++ host: WASI).

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(id: u32, precision: u64, time_ptr: usize): i32;

const scratch = memory.data(8);

/** Monotonic nanoseconds (arbitrary origin), or 0 when the host cannot tell. */
export function monotonicNs(): i64 {
  if (clock_time_get(1, 1000, scratch) != 0) return 0;
  return load<i64>(scratch);
}
