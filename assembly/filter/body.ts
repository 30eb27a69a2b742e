// Body replacement without an extra copy. proxy-runtime's set_buffer_bytes takes an ArrayBuffer,
// which for a builder means copying the whole body once more inside the VM; for bodies near the
// configured maximum that copy is what decides whether the VM runs out of memory (1 GiB in
// Envoy's V8: docs/design.md "Memory"). The host reads the bytes straight from the builder.

import { BufferTypeValues } from "@solo-io/proxy-runtime/assembly";
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { ByteBuilder } from "../util/bytes";

/** Replaces the `length` bytes of the body buffer `type` with the bytes of `b`. */
export function replaceBody(type: BufferTypeValues, length: usize, b: ByteBuilder): void {
  imports.proxy_set_buffer_bytes(<u32>type, 0, <u32>length, b.buf.dataStart, <usize>b.len);
}
