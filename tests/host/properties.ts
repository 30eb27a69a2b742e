// proxy_get_property (sources: Envoy attributes; Envoy `Context::getProperty/findValue` and
// `filters/common/expr/context.cc`). Paths are NUL-separated tokens; the first token is an
// attribute, later tokens index maps (by key), lists (by decimal index). Values are serialized like
// Envoy `serializeValue`: strings/bytes raw, int/uint/timestamp/duration as 8-byte LE, bool 1 byte,
// maps/lists in the pairs format, protobuf messages serialized (empty messages here).

import { Status } from "./constants.ts";
import type { HeaderMap } from "./headers.ts";
import { encodePairs, type Pair } from "./pairs.ts";
import type { ContextBase, StreamContext } from "./context.ts";

type Val =
  | { t: "str"; v: Uint8Array }
  | { t: "int" | "uint"; v: bigint }
  | { t: "bool"; v: boolean }
  | { t: "map"; get(key: string): Val | undefined; entries(): [Val, Val][] | null }
  | { t: "msg"; bytes: Uint8Array };

const str = (s: string, latin1 = false): Val => ({ t: "str", v: Buffer.from(s, latin1 ? "latin1" : "utf8") });
const int = (n: number | bigint): Val => ({ t: "int", v: BigInt(n) });
const uint = (n: number | bigint): Val => ({ t: "uint", v: BigInt(n) });
const EMPTY_MSG: Val = { t: "msg", bytes: new Uint8Array(0) };

/** A CEL map over a fixed set of computed fields (RequestWrapper etc.): not enumerable in Envoy. */
function wrapper(fields: Record<string, () => Val | undefined>): Val {
  return {
    t: "map",
    get: (k) => (Object.prototype.hasOwnProperty.call(fields, k) ? fields[k]() : undefined),
    entries: () => null, // ListKeys unimplemented → serialization failure when read whole
  };
}

/** Envoy HeadersWrapper: lookup joins repeated values with ","; null map → empty. */
function headersMap(h: HeaderMap | null): Val {
  return {
    t: "map",
    get: (k) => {
      if (!h) return undefined;
      const all = h.getAll(k);
      return all.length ? str(all.join(","), true) : undefined;
    },
    entries: () => (h ? h.pairs().map(([k]) => [str(k, true), str(h.getAll(k).join(","), true)] as [Val, Val]) : []),
  };
}

function headerField(h: HeaderMap | null, name: string): Val | undefined {
  if (!h) return undefined;
  const v = h.get(name);
  return v === undefined ? undefined : str(v, true);
}

function findValue(ctx: ContextBase, name: string): Val | undefined {
  const info = ctx.streamInfo;
  const s = info ? (ctx as StreamContext) : null;
  const plugin = ctx.vm?.services.plugin;
  switch (name) {
    case "request": {
      if (!s || !info) return undefined;
      const h = () => s.activationRequestHeaders;
      return wrapper({
        headers: () => headersMap(h()),
        time: () => int(info.startTimeNs),
        size: () => {
          const cl = h()?.get("content-length");
          if (cl !== undefined) return /^\d+$/.test(cl) ? int(BigInt(cl)) : undefined;
          return int(info.bytesReceived);
        },
        total_size: () => int(info.bytesReceived + (h()?.byteSize() ?? 0)),
        duration: () => (info.requestCompleteNs !== undefined ? int(info.requestCompleteNs) : undefined),
        protocol: () => (info.protocol ? str(info.protocol) : undefined),
        path: () => headerField(h(), ":path"),
        url_path: () => {
          const p = h()?.get(":path");
          return p === undefined ? undefined : str(p.split("?")[0], true);
        },
        host: () => headerField(h(), ":authority"),
        scheme: () => headerField(h(), ":scheme"),
        method: () => headerField(h(), ":method"),
        referer: () => headerField(h(), "referer"),
        id: () => headerField(h(), "x-request-id"),
        useragent: () => headerField(h(), "user-agent"),
        query: () => {
          const p = h()?.get(":path");
          if (p === undefined) return undefined;
          const q = p.indexOf("?");
          return str(q < 0 ? "" : p.slice(q + 1).split("#")[0], true);
        },
      });
    }
    case "response": {
      if (!s || !info) return undefined;
      return wrapper({
        code: () => (info.responseCode !== undefined ? int(info.responseCode) : undefined),
        code_details: () => (info.responseCodeDetails !== undefined ? str(info.responseCodeDetails) : undefined),
        flags: () => int(0),
        grpc_status: () => {
          const v = s.activationResponseTrailers?.get("grpc-status") ?? s.activationResponseHeaders?.get("grpc-status");
          return v !== undefined && /^\d+$/.test(v) ? int(Number(v)) : undefined;
        },
        headers: () => headersMap(s.activationResponseHeaders),
        trailers: () => headersMap(s.activationResponseTrailers),
        size: () => int(info.bytesSent),
        total_size: () => int(info.bytesSent + (s.activationResponseHeaders?.byteSize() ?? 0) + (s.activationResponseTrailers?.byteSize() ?? 0)),
      });
    }
    case "connection": {
      const c = info?.connection;
      if (!c) return undefined;
      return wrapper({
        id: () => uint(c.id),
        mtls: () => ({ t: "bool", v: false }),
        requested_server_name: () => str(""),
      });
    }
    case "source":
    case "destination": {
      const c = info?.connection;
      if (!c) return undefined;
      const [addr, port] = name === "source" ? [c.remoteAddress, c.remotePort] : [c.localAddress, c.localPort];
      return wrapper({ address: () => str(hostPort(addr, port)), port: () => int(port) });
    }
    case "upstream": {
      const u = info?.upstreamHost;
      if (!info) return undefined;
      return wrapper({
        address: () => (u ? str(hostPort(u.address, u.port)) : undefined),
        port: () => (u ? int(u.port) : undefined),
      });
    }
    case "xds":
      return wrapper({
        node: () => EMPTY_MSG,
        route_name: () => { const r = info?.route(); return r ? str(r.name) : undefined; },
        cluster_name: () => { const r = info?.route(); return r?.clusterName !== undefined ? str(r.clusterName) : undefined; },
        virtual_host_name: () => { const r = info?.route(); return r ? str(r.virtualHost) : undefined; },
      });
    case "metadata":
      return info ? EMPTY_MSG : undefined;
    case "filter_state":
      if (!info) return undefined;
      return {
        t: "map",
        get: (k) => { const st = info.filterState.get(k); return st ? { t: "str", v: st.value } : undefined; },
        entries: () => null,
      };
    // Wasm-specific attributes (Envoy PROPERTY_TOKENS).
    case "plugin_name": return plugin ? str(plugin.name) : undefined;
    case "plugin_root_id": return plugin ? str(plugin.rootId) : undefined;
    case "plugin_vm_id": return plugin ? str(plugin.vmId) : undefined;
    case "connection_id": return info?.connection ? uint(info.connection.id) : undefined;
  }
  // Anything else: filter state "wasm.<name>" written by proxy_set_property (sources: Envoy attributes).
  const st = info?.filterState.get(`wasm.${name}`);
  return st ? { t: "str", v: st.value } : undefined;
}

function hostPort(addr: string, port: number): string {
  return addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;
}

export function getProperty(ctx: ContextBase, path: Uint8Array): Uint8Array | number {
  const tokens: string[] = [];
  let start = 0;
  while (start < path.length) {
    let end = path.indexOf(0, start);
    if (end < 0) end = path.length;
    tokens.push(Buffer.from(path.subarray(start, end)).toString("latin1"));
    start = end + 1; // a trailing NUL is tolerated (sources: Envoy attributes)
  }
  if (tokens.length === 0) return Status.SerializationFailure;
  let value = findValue(ctx, tokens[0]);
  if (!value) return Status.NotFound;
  for (let i = 1; i < tokens.length; i++) {
    if (value.t !== "map") return Status.NotFound;
    const next: Val | undefined = value.get(tokens[i]);
    if (!next) return Status.NotFound;
    value = next;
  }
  return serialize(value);
}

function serialize(v: Val): Uint8Array | number {
  switch (v.t) {
    case "str": return v.v;
    case "msg": return v.bytes;
    case "bool": return Uint8Array.of(v.v ? 1 : 0);
    case "int":
    case "uint": {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v.v), true);
      return b;
    }
    case "map": {
      const entries = v.entries();
      if (!entries) return Status.SerializationFailure;
      const pairs: Pair[] = [];
      for (const [k, val] of entries) {
        const ks = serialize(k), vs = serialize(val);
        if (typeof ks === "number" || typeof vs === "number") return Status.SerializationFailure;
        pairs.push([Buffer.from(ks).toString("latin1"), Buffer.from(vs).toString("latin1")]);
      }
      return encodePairs(pairs);
    }
  }
}
