// Foreign functions Envoy registers (sources: Envoy wasm foreign functions, Envoy `source/extensions/common/wasm/foreign.cc`).
// Implemented: clear_route_cache, declare_property, compress, uncompress.
// Not emulated (→ NOT_FOUND here, present in Envoy): set_envoy_filter_state, verify_signature, sign,
// expr_* (see README).

import { deflateSync, inflateSync } from "node:zlib";
import { Status } from "./constants.ts";
import type { ContextBase } from "./context.ts";

export interface ForeignResult { status: number; result?: Uint8Array }
export type ForeignFunction = (ctx: ContextBase, args: Uint8Array) => ForeignResult;

/** `DeclarePropertyArguments` life spans / types, as stored on a declared property. */
export interface PropertyPrototype { readonly: boolean; type: number; schema: Uint8Array; span: number }

const functions: Record<string, ForeignFunction> = {
  // sources: Envoy wasm foreign functions; Envoy wasm context: clears the route cache of the stream; on a root context it does nothing.
  clear_route_cache: (ctx) => {
    ctx.clearRouteCache();
    return { status: Status.Ok };
  },
  // sources: Envoy attributes: DeclarePropertyArguments{string name=1; bool readonly=2; WasmType type=3; bytes schema=4;
  // LifeSpan span=5}; BAD_ARGUMENT when unparsable or already declared on this context.
  declare_property: (ctx, args) => {
    const msg = parseProto(args);
    if (!msg) return { status: Status.BadArgument };
    const name = msg.get(1)?.bytes;
    const proto: PropertyPrototype = {
      readonly: (msg.get(2)?.varint ?? 0n) !== 0n,
      type: Number(msg.get(3)?.varint ?? 0n),
      schema: msg.get(4)?.bytes ?? new Uint8Array(0),
      span: Number(msg.get(5)?.varint ?? 0n),
    };
    return { status: ctx.declareProperty(name ? Buffer.from(name).toString("latin1") : "", proto) };
  },
  // zlib `compress()` / `uncompress()` (RFC 1950 stream, default level).
  compress: (_ctx, args) => ({ status: Status.Ok, result: deflateSync(args) }),
  uncompress: (_ctx, args) => {
    try {
      return { status: Status.Ok, result: inflateSync(args) };
    } catch {
      return { status: Status.SerializationFailure };
    }
  },
};

export function foreignFunction(name: string): ForeignFunction | undefined {
  return Object.prototype.hasOwnProperty.call(functions, name) ? functions[name] : undefined;
}

interface Field { varint?: bigint; bytes?: Uint8Array }

/** Minimal protobuf decoder (varint, 64-bit, length-delimited, 32-bit); null when malformed. */
export function parseProto(buf: Uint8Array): Map<number, Field> | null {
  const out = new Map<number, Field>();
  let pos = 0;
  const varint = (): bigint | null => {
    let r = 0n, shift = 0n;
    for (;;) {
      if (pos >= buf.length || shift > 63n) return null;
      const b = buf[pos++];
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    if (key === null) return null;
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (field === 0) return null;
    if (wire === 0) {
      const v = varint();
      if (v === null) return null;
      out.set(field, { varint: v });
    } else if (wire === 2) {
      const len = varint();
      if (len === null || pos + Number(len) > buf.length) return null;
      out.set(field, { bytes: buf.subarray(pos, pos + Number(len)) });
      pos += Number(len);
    } else if (wire === 1) {
      if (pos + 8 > buf.length) return null;
      pos += 8;
    } else if (wire === 5) {
      if (pos + 4 > buf.length) return null;
      pos += 4;
    } else {
      return null;
    }
  }
  return out;
}
