// Validates JSON bodies against the Gemini API's published protos (googleapis generativelanguage v1beta *.proto, sources: Provider API specifications;
// beside the checkout, googleapis/googleapis google/ai/generativelanguage/v1beta) the way a proto3
// JSON parser accepts them (https://protobuf.dev/programming-guides/json/):
//   - members are the fields' json_name (lowerCamelCase of the proto name unless `json_name` is
//     given) or the original proto name; any other member is an error, as is one field twice;
//   - scalars by type: 32-bit integers as numbers (or decimal strings) in range, 64-bit integers
//     as numbers or decimal strings, float/double as numbers or "NaN"/"Infinity"/"-Infinity",
//     bool as true/false, string as string, bytes as base64 (standard or URL-safe, padding
//     optional), enums as a value name of that enum (or its number);
//   - repeated fields as arrays, map fields as objects (keys checked against the key type);
//   - at most one member of a oneof set (not null);
//   - null is accepted for any field (it means "default"), except inside arrays and maps;
//   - well-known types: Struct (object), Value (any JSON), ListValue (array), Duration ("1.5s"),
//     Timestamp (RFC 3339), and the google.type LatLng / Interval messages the files import.
// Not checked: `(google.api.field_behavior) = REQUIRED` (not part of the JSON mapping) and the
// value ranges that only comments state.
//
// The .proto parser is small but general: packages, nested messages and enums, oneofs, maps,
// `optional`/`repeated` labels, field options (json_name), reserved ranges, services (skipped),
// and type names resolved by protobuf scoping rules.

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Where the protos live; GEMINI_PROTO_DIR overrides it. */
export const GEMINI_PROTO_DIR = process.env.GEMINI_PROTO_DIR ??
  fileURLToPath(new URL("../../../shared/specs/gemini/", import.meta.url));
export const GEMINI_PACKAGE = "google.ai.generativelanguage.v1beta";

export interface ProtoField {
  name: string;
  jsonName: string;
  number: number;
  /** Type as written (resolved later into `resolved`). */
  type: string;
  repeated: boolean;
  map?: { key: string; value: string; resolvedValue?: string };
  oneof?: string;
  /** Fully qualified message/enum name, or the scalar name. */
  resolved?: string;
}

export interface ProtoMessage { fullName: string; fields: ProtoField[]; byKey: Map<string, ProtoField> }
export interface ProtoEnum { fullName: string; values: Map<string, number> }

export class ProtoRegistry {
  readonly messages = new Map<string, ProtoMessage>();
  readonly enums = new Map<string, ProtoEnum>();
  /** Type references that resolved to nothing (a parser bug or a missing file). */
  readonly unresolved: string[] = [];

  message(name: string): ProtoMessage {
    const full = name.includes(".") ? name : `${GEMINI_PACKAGE}.${name}`;
    const m = this.messages.get(full);
    if (!m) throw new Error(`no message ${full}`);
    return m;
  }

  /** Problems with `value` as the JSON of message `name` (short or fully qualified); [] = valid. */
  validate(name: string, value: unknown): string[] {
    const errors: string[] = [];
    const m = this.message(name);
    if (value === null || typeof value !== "object" || Array.isArray(value)) errors.push(`$: ${m.fullName} must be a JSON object`);
    else this.checkMessage(m, value as Record<string, unknown>, "$", errors, 0);
    return errors;
  }

  private checkMessage(m: ProtoMessage, obj: Record<string, unknown>, path: string, errors: string[], depth: number): void {
    if (depth > 64) { errors.push(`${path}: nested too deeply`); return; }
    const seen = new Map<number, string>();
    const oneofs = new Map<string, string>();
    for (const [key, v] of Object.entries(obj)) {
      const f = m.byKey.get(key);
      const p = `${path}.${key}`;
      if (!f) { errors.push(`${p}: unknown field of ${m.fullName}`); continue; }
      const prev = seen.get(f.number);
      if (prev !== undefined) { errors.push(`${p}: field ${f.name} given twice (also as ${prev})`); continue; }
      seen.set(f.number, key);
      if (v === null) continue;
      if (f.oneof) {
        const other = oneofs.get(f.oneof);
        if (other !== undefined) errors.push(`${p}: oneof ${f.oneof} already set by ${other}`);
        else oneofs.set(f.oneof, key);
      }
      this.checkField(f, v, p, errors, depth);
    }
  }

  private checkField(f: ProtoField, v: unknown, path: string, errors: string[], depth: number): void {
    if (f.map) {
      if (typeof v !== "object" || Array.isArray(v)) { errors.push(`${path}: map field must be an object`); return; }
      for (const [k, mv] of Object.entries(v as object)) {
        const kp = checkMapKey(f.map.key, k);
        if (kp) errors.push(`${path}[${JSON.stringify(k)}]: ${kp}`);
        if (mv === null && f.map.resolvedValue !== "google.protobuf.Value") { errors.push(`${path}[${JSON.stringify(k)}]: null map value`); continue; }
        this.checkSingle(f.map.resolvedValue!, mv, `${path}[${JSON.stringify(k)}]`, errors, depth);
      }
      return;
    }
    if (f.repeated) {
      if (!Array.isArray(v)) { errors.push(`${path}: repeated field must be an array`); return; }
      v.forEach((e, i) => {
        if (e === null && f.resolved !== "google.protobuf.Value") errors.push(`${path}[${i}]: null element`);
        else this.checkSingle(f.resolved!, e, `${path}[${i}]`, errors, depth);
      });
      return;
    }
    this.checkSingle(f.resolved!, v, path, errors, depth);
  }

  private checkSingle(type: string, v: unknown, path: string, errors: string[], depth: number): void {
    const scalar = checkScalar(type, v);
    if (scalar !== undefined) { if (scalar) errors.push(`${path}: ${scalar}`); return; }
    switch (type) {
      case "google.protobuf.Value": return;
      case "google.protobuf.Struct":
        if (typeof v !== "object" || v === null || Array.isArray(v)) errors.push(`${path}: Struct must be a JSON object`);
        return;
      case "google.protobuf.ListValue":
        if (!Array.isArray(v)) errors.push(`${path}: ListValue must be a JSON array`);
        return;
      case "google.protobuf.Duration":
        if (typeof v !== "string" || !/^-?\d+(\.\d{1,9})?s$/.test(v)) errors.push(`${path}: Duration must be a string like "1.5s"`);
        return;
      case "google.protobuf.Timestamp":
        if (typeof v !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(v)) errors.push(`${path}: Timestamp must be an RFC 3339 string`);
        return;
    }
    const e = this.enums.get(type);
    if (e) {
      if (typeof v === "string") { if (!e.values.has(v)) errors.push(`${path}: ${JSON.stringify(v)} is not a value of enum ${type}`); }
      else if (!(typeof v === "number" && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647)) errors.push(`${path}: enum ${type} must be a value name`);
      return;
    }
    const m = this.messages.get(type);
    if (!m) { errors.push(`${path}: unknown type ${type}`); return; }
    if (typeof v !== "object" || v === null || Array.isArray(v)) { errors.push(`${path}: ${type} must be a JSON object`); return; }
    this.checkMessage(m, v as Record<string, unknown>, path, errors, depth + 1);
  }
}

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-2147483648, 2147483647], sint32: [-2147483648, 2147483647], sfixed32: [-2147483648, 2147483647],
  uint32: [0, 4294967295], fixed32: [0, 4294967295],
};
const INT64 = new Set(["int64", "sint64", "sfixed64", "uint64", "fixed64"]);
export const SCALARS = new Set([...Object.keys(INT_RANGES), ...INT64, "float", "double", "bool", "string", "bytes"]);
const FLOAT_MAX = 3.4028234663852886e38;

function integral(v: unknown): bigint | null {
  if (typeof v === "number") return Number.isFinite(v) && Number.isInteger(v) ? BigInt(v) : null;
  if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
  if (typeof v === "string" && /^-?\d+(\.\d+)?[eE][+-]?\d+$/.test(v)) { const n = Number(v); return Number.isInteger(n) ? BigInt(n) : null; }
  return null;
}

/** undefined: not a scalar type; "": valid; else the problem. */
function checkScalar(type: string, v: unknown): string | undefined {
  if (type in INT_RANGES) {
    const n = integral(v);
    const [lo, hi] = INT_RANGES[type];
    if (n === null) return `${type} must be an integer, got ${JSON.stringify(v)}`;
    return n < BigInt(lo) || n > BigInt(hi) ? `${type} out of range: ${JSON.stringify(v)}` : "";
  }
  if (INT64.has(type)) {
    const n = integral(v);
    if (n === null) return `${type} must be an integer (number or decimal string), got ${JSON.stringify(v)}`;
    const unsigned = type.startsWith("u") || type === "fixed64";
    if (unsigned ? n < 0n || n > 18446744073709551615n : n < -9223372036854775808n || n > 9223372036854775807n) return `${type} out of range: ${JSON.stringify(v)}`;
    return "";
  }
  if (type === "float" || type === "double") {
    if (v === "NaN" || v === "Infinity" || v === "-Infinity") return "";
    const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v)) ? Number(v) : NaN;
    if (!Number.isFinite(n)) return `${type} must be a number, got ${JSON.stringify(v)}`;
    return type === "float" && Math.abs(n) > FLOAT_MAX ? `float out of range: ${v}` : "";
  }
  if (type === "bool") return typeof v === "boolean" ? "" : `bool must be true or false, got ${JSON.stringify(v)}`;
  if (type === "string") return typeof v === "string" ? "" : `string expected, got ${JSON.stringify(v)}`;
  if (type === "bytes") {
    if (typeof v !== "string") return `bytes must be a base64 string, got ${JSON.stringify(v)}`;
    const ok = /^[A-Za-z0-9+/\-_]*={0,2}$/.test(v) && (v.includes("=") ? v.length % 4 === 0 : v.length % 4 !== 1);
    return ok ? "" : `bytes must be base64, got ${JSON.stringify(v.slice(0, 40))}`;
  }
  return undefined;
}

function checkMapKey(type: string, k: string): string {
  if (type === "string") return "";
  if (type === "bool") return k === "true" || k === "false" ? "" : `map key must be "true" or "false"`;
  const p = checkScalar(type, k);
  return p === undefined ? `unsupported map key type ${type}` : p ? `map key: ${p}` : "";
}

/** lowerCamelCase json name of a proto field name (protoc's ToJsonName). */
export function jsonNameOf(name: string): string {
  let out = "", upper = false;
  for (const c of name) {
    if (c === "_") { upper = true; continue; }
    out += upper ? c.toUpperCase() : c;
    upper = false;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// .proto parsing

function tokenize(src: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === "/" && src[i + 1] === "/") { while (i < src.length && src[i] !== "\n") i++; continue; }
    if (c === "/" && src[i + 1] === "*") { const e = src.indexOf("*/", i + 2); i = e < 0 ? src.length : e + 2; continue; }
    if (c === "\"" || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
      out.push(src.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    const m = /^[A-Za-z0-9_.+-]+/.exec(src.slice(i, i + 256));
    if (m) { out.push(m[0]); i += m[0].length; continue; }
    out.push(c);
    i++;
  }
  return out;
}

interface Scope { name: string; messages: string[] }

class ProtoParser {
  private pos = 0;
  pkg = "";
  constructor(private t: string[], private reg: ProtoRegistry, private pending: { scope: string; field: ProtoField }[]) {}

  private peek(): string { return this.t[this.pos] ?? ""; }
  private next(): string {
    if (this.pos >= this.t.length) throw new Error("unexpected end of .proto");
    return this.t[this.pos++];
  }
  private expect(s: string): void {
    const got = this.next();
    if (got !== s) throw new Error(`.proto: expected ${s}, got ${got} (token ${this.pos})`);
  }
  /** Skips to the end of a statement (`;`) or a balanced `{…}` block. */
  private skipStatement(): void {
    let depth = 0;
    while (this.pos < this.t.length) {
      const x = this.next();
      if (x === "{") depth++;
      else if (x === "}") { depth--; if (depth <= 0) { if (this.peek() === ";") this.pos++; return; } }
      else if (x === ";" && depth === 0) return;
    }
  }

  parseFile(): void {
    while (this.pos < this.t.length) {
      const k = this.peek();
      if (k === "package") { this.next(); this.pkg = this.next(); this.expect(";"); }
      else if (k === "message") this.parseMessage(this.pkg);
      else if (k === "enum") this.parseEnum(this.pkg);
      else if (k === ";") this.next();
      else this.skipStatement(); // syntax, import, option, service, extend
    }
  }

  private parseEnum(scope: string): void {
    this.expect("enum");
    const full = `${scope}.${this.next()}`;
    const e: ProtoEnum = { fullName: full, values: new Map() };
    this.expect("{");
    while (this.peek() !== "}") {
      const k = this.peek();
      if (k === "option" || k === "reserved") { this.skipStatement(); continue; }
      if (k === ";") { this.next(); continue; }
      const name = this.next();
      this.expect("=");
      const num = Number(this.next());
      if (this.peek() === "[") this.skipOptions();
      this.expect(";");
      e.values.set(name, num);
    }
    this.expect("}");
    this.reg.enums.set(full, e);
  }

  /** `[ … ]` field options; returns json_name when given. */
  private skipOptions(): string | undefined {
    this.expect("[");
    let depth = 1, jsonName: string | undefined;
    while (depth > 0) {
      const x = this.next();
      if (x === "[" || x === "{") depth++;
      else if (x === "]" || x === "}") depth--;
      else if (x === "json_name" && depth === 1 && this.peek() === "=") { this.next(); jsonName = JSON.parse(this.next()); }
    }
    return jsonName;
  }

  private parseField(full: string, msg: ProtoMessage, oneof?: string): void {
    let repeated = false;
    let k = this.peek();
    if (k === "repeated" || k === "optional" || k === "required") { this.next(); repeated = k === "repeated"; k = this.peek(); }
    let field: ProtoField;
    if (k === "map") {
      this.next(); this.expect("<");
      const key = this.next(); this.expect(",");
      const value = this.next(); this.expect(">");
      const name = this.next(); this.expect("=");
      const number = Number(this.next());
      field = { name, jsonName: jsonNameOf(name), number, type: value, repeated: false, map: { key, value } };
    } else {
      const type = this.next();
      const name = this.next();
      this.expect("=");
      const number = Number(this.next());
      field = { name, jsonName: jsonNameOf(name), number, type, repeated, oneof };
    }
    if (this.peek() === "[") { const jn = this.skipOptions(); if (jn !== undefined) field.jsonName = jn; }
    this.expect(";");
    msg.fields.push(field);
    this.pending.push({ scope: full, field });
  }

  private parseMessage(scope: string): void {
    this.expect("message");
    const full = `${scope}.${this.next()}`;
    const msg: ProtoMessage = { fullName: full, fields: [], byKey: new Map() };
    this.reg.messages.set(full, msg);
    this.expect("{");
    while (this.peek() !== "}") {
      const k = this.peek();
      if (k === "message") this.parseMessage(full);
      else if (k === "enum") this.parseEnum(full);
      else if (k === "option" || k === "reserved" || k === "extensions" || k === "extend") this.skipStatement();
      else if (k === ";") this.next();
      else if (k === "oneof") {
        this.next();
        const name = this.next();
        this.expect("{");
        while (this.peek() !== "}") {
          if (this.peek() === "option") { this.skipStatement(); continue; }
          this.parseField(full, msg, name);
        }
        this.expect("}");
      } else this.parseField(full, msg);
    }
    this.expect("}");
  }
}

/** google.type / google.protobuf types the Gemini files import but the spec folder does not hold. */
function addImportedTypes(reg: ProtoRegistry): void {
  const msg = (fullName: string, fields: [string, string][]) => {
    const m: ProtoMessage = { fullName, fields: fields.map(([name, type], i) => ({ name, jsonName: jsonNameOf(name), number: i + 1, type, repeated: false, resolved: type })), byKey: new Map() };
    reg.messages.set(fullName, m);
  };
  msg("google.type.LatLng", [["latitude", "double"], ["longitude", "double"]]);
  msg("google.type.Interval", [["start_time", "google.protobuf.Timestamp"], ["end_time", "google.protobuf.Timestamp"]]);
}

const WELL_KNOWN = new Set(["google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue", "google.protobuf.Duration", "google.protobuf.Timestamp"]);

/** Protobuf name resolution: innermost scope outwards; a leading '.' is fully qualified. */
function resolveType(reg: ProtoRegistry, scope: string, type: string): string | undefined {
  if (SCALARS.has(type)) return type;
  if (type.startsWith(".")) type = type.slice(1);
  if (WELL_KNOWN.has(type)) return type;
  const parts = scope.split(".");
  for (let n = parts.length; n >= 0; n--) {
    const cand = [...parts.slice(0, n), type].join(".");
    if (reg.messages.has(cand) || reg.enums.has(cand) || WELL_KNOWN.has(cand)) return cand;
  }
  return undefined;
}

let cached: ProtoRegistry | undefined;

/** Parses every .proto file of `dir` (default: the Gemini v1beta protos) into a registry. */
export function loadProtos(dir = GEMINI_PROTO_DIR): ProtoRegistry {
  if (dir === GEMINI_PROTO_DIR && cached) return cached;
  const reg = new ProtoRegistry();
  const pending: { scope: string; field: ProtoField }[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".proto")).sort()) {
    new ProtoParser(tokenize(readFileSync(join(dir, f), "utf8")), reg, pending).parseFile();
  }
  addImportedTypes(reg);
  for (const { scope, field } of pending) {
    const r = resolveType(reg, scope, field.type);
    if (r === undefined) reg.unresolved.push(`${scope}.${field.name}: ${field.type}`);
    if (field.map) field.map.resolvedValue = r; else field.resolved = r;
  }
  for (const m of reg.messages.values()) {
    for (const f of m.fields) { m.byKey.set(f.jsonName, f); m.byKey.set(f.name, f); }
  }
  if (dir === GEMINI_PROTO_DIR) cached = reg;
  return reg;
}

/** Problems with `value` as the proto3 JSON of Gemini message `name` (e.g. "GenerateContentRequest"). */
export function geminiErrors(name: string, value: unknown): string[] {
  return loadProtos().validate(name, value);
}

/**
 * The request message a Gemini upstream path takes (by its `:method`), or undefined for paths the
 * protos do not describe (Vertex `:predict`, Claude's `:rawPredict`).
 */
export function geminiRequestMessage(path: string): string | undefined {
  const m = /:(\w+)(\?|$)/.exec(path);
  switch (m?.[1]) {
    case "generateContent": case "streamGenerateContent": return "GenerateContentRequest";
    case "embedContent": return "EmbedContentRequest";
    case "batchEmbedContents": return "BatchEmbedContentsRequest";
    default: return undefined;
  }
}
