// Validates request bodies against the Bedrock Runtime service model, the botocore JSON model
// botocore's bedrock-runtime service-2.json (sources: Provider API specifications), from a specs directory beside the checkout (BEDROCK_SERVICE_MODEL overrides).
//
// botocore shapes, as the model defines them:
//   structure: members + required; unknown members are errors; `union: true` → exactly one
//     member set; `document: true` → any JSON value (free-form Document)
//   list: member shape, min/max items; map: key/value shapes, min/max entries
//   string: enum, min/max length (code points, the Smithy length trait), pattern (ECMAScript regex,
//     not anchored, as the Smithy pattern trait)
//   integer/long: integer, min/max; float/double: finite number, min/max; boolean
//   blob: a base64 string (restJson1 body members), decoded length min/max
//   timestamp: epoch seconds number or ISO-8601 string
// A request is checked as the HTTP binding sends it: members bound to the URI (modelId) or to
// headers are checked from the path / headers; the rest from the JSON body; a blob payload
// (InvokeModel `body`) is the raw body itself.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const BEDROCK_MODEL_PATH = process.env.BEDROCK_SERVICE_MODEL ??
  fileURLToPath(new URL("../../../shared/specs/bedrock/service-2.json", import.meta.url));

interface MemberRef { shape: string; location?: string; locationName?: string }
interface Shape {
  type: string;
  members?: Record<string, MemberRef>;
  required?: string[];
  union?: boolean;
  document?: boolean;
  member?: { shape: string };
  key?: { shape: string };
  value?: { shape: string };
  enum?: string[];
  min?: number;
  max?: number;
  pattern?: string;
  payload?: string;
}
interface Operation { name: string; http: { method: string; requestUri: string }; input?: { shape: string } }
interface ServiceModel { operations: Record<string, Operation>; shapes: Record<string, Shape> }

let model: ServiceModel | undefined;
export function serviceModel(): ServiceModel {
  if (!model) model = JSON.parse(readFileSync(BEDROCK_MODEL_PATH, "utf8")) as ServiceModel;
  return model;
}

const patterns = new Map<string, RegExp | null>();
function patternOf(p: string): RegExp | null {
  if (!patterns.has(p)) {
    let re: RegExp | null = null;
    try { re = new RegExp(p, "u"); } catch { try { re = new RegExp(p); } catch { re = null; } }
    patterns.set(p, re);
  }
  return patterns.get(p)!;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function checkRange(n: number, s: Shape, what: string, path: string, out: string[]): void {
  if (s.min !== undefined && n < s.min) out.push(`${path}: ${what} ${n} is below the minimum ${s.min}`);
  if (s.max !== undefined && n > s.max) out.push(`${path}: ${what} ${n} is above the maximum ${s.max}`);
}

/** Problems of `value` against shape `name` (empty = valid). */
export function shapeErrors(name: string, value: unknown, path = "$", out: string[] = []): string[] {
  const s = serviceModel().shapes[name];
  if (!s) { out.push(`${path}: unknown shape ${name}`); return out; }
  switch (s.type) {
    case "structure": {
      if (s.document) { // free-form JSON (Document)
        if (value === undefined) out.push(`${path}: missing document`);
        return out;
      }
      if (!isObject(value)) { out.push(`${path}: expected an object (${name}), got ${JSON.stringify(value)?.slice(0, 60)}`); return out; }
      const members = s.members ?? {};
      const set = Object.keys(value).filter((k) => value[k] !== null && value[k] !== undefined);
      for (const k of Object.keys(value)) {
        if (value[k] === null) out.push(`${path}.${k}: null (a member is either set or absent)`);
        if (!(k in members)) out.push(`${path}: unknown member "${k}" of ${name} (members: ${Object.keys(members).join(", ")})`);
        else if (members[k].location) out.push(`${path}: "${k}" of ${name} belongs in the ${members[k].location}, not the body`);
      }
      if (s.union) {
        if (set.length !== 1) out.push(`${path}: ${name} is a union: exactly one member must be set, got ${set.length} (${set.join(", ")})`);
      }
      for (const r of s.required ?? []) {
        if (members[r]?.location) continue; // bound to the URI or a header, checked there
        if (value[r] === undefined || value[r] === null) out.push(`${path}: ${name} requires "${r}"`);
      }
      for (const k of set) if (k in members && !members[k].location) shapeErrors(members[k].shape, value[k], `${path}.${k}`, out);
      return out;
    }
    case "list": {
      if (!Array.isArray(value)) { out.push(`${path}: expected an array (${name})`); return out; }
      checkRange(value.length, s, "item count", path, out);
      value.forEach((v, i) => shapeErrors(s.member!.shape, v, `${path}[${i}]`, out));
      return out;
    }
    case "map": {
      if (!isObject(value)) { out.push(`${path}: expected an object (map ${name})`); return out; }
      checkRange(Object.keys(value).length, s, "entry count", path, out);
      for (const [k, v] of Object.entries(value)) {
        shapeErrors(s.key!.shape, k, `${path}{key ${JSON.stringify(k)}}`, out);
        shapeErrors(s.value!.shape, v, `${path}.${k}`, out);
      }
      return out;
    }
    case "string": {
      if (typeof value !== "string") { out.push(`${path}: expected a string (${name}), got ${JSON.stringify(value)?.slice(0, 60)}`); return out; }
      if (s.enum && !s.enum.includes(value)) out.push(`${path}: ${JSON.stringify(value)} is not one of ${s.enum.join(", ")} (${name})`);
      checkRange([...value].length, s, "length", path, out);
      if (s.pattern) {
        const re = patternOf(s.pattern);
        if (re && !re.test(value)) out.push(`${path}: ${JSON.stringify(value.slice(0, 80))} does not match the pattern of ${name}`);
      }
      return out;
    }
    case "integer": case "long": {
      if (typeof value !== "number" || !Number.isInteger(value)) { out.push(`${path}: expected an integer (${name}), got ${JSON.stringify(value)}`); return out; }
      if (s.type === "integer" && (value > 2147483647 || value < -2147483648)) out.push(`${path}: ${value} does not fit a 32-bit integer`);
      checkRange(value, s, "value", path, out);
      return out;
    }
    case "float": case "double": {
      if (typeof value !== "number" || !Number.isFinite(value)) { out.push(`${path}: expected a number (${name}), got ${JSON.stringify(value)}`); return out; }
      checkRange(value, s, "value", path, out);
      return out;
    }
    case "boolean":
      if (typeof value !== "boolean") out.push(`${path}: expected a boolean (${name}), got ${JSON.stringify(value)}`);
      return out;
    case "blob": {
      if (typeof value !== "string" || !BASE64.test(value)) { out.push(`${path}: expected base64 (${name}), got ${JSON.stringify(value)?.slice(0, 60)}`); return out; }
      checkRange(Buffer.from(value, "base64").length, s, "decoded length", path, out);
      return out;
    }
    case "timestamp":
      if (typeof value !== "number" && typeof value !== "string") out.push(`${path}: expected a timestamp (${name})`);
      return out;
    default:
      out.push(`${path}: shape type ${s.type} of ${name} is not handled by this validator`);
      return out;
  }
}

/** The operation whose requestUri matches a request path (e.g. `/model/x/converse` → Converse), and its URI labels. */
export function operationFor(method: string, path: string): { op: Operation; labels: Record<string, string> } | undefined {
  for (const op of Object.values(serviceModel().operations)) {
    if (op.http.method !== method) continue;
    const tmpl = op.http.requestUri.split("?")[0].split("/");
    const segs = path.split("?")[0].split("/");
    if (tmpl.length !== segs.length) continue;
    const labels: Record<string, string> = {};
    let ok = true;
    tmpl.forEach((t, i) => {
      const m = /^\{(\w+)\}$/.exec(t);
      if (m) {
        try { labels[m[1]] = decodeURIComponent(segs[i]); } catch { ok = false; }
      } else if (t !== segs[i]) ok = false;
    });
    if (ok) return { op, labels };
  }
  return undefined;
}

/**
 * Problems of an HTTP request (method, path relative to the Bedrock endpoint, body bytes) against
 * the service model: the operation must exist, URI labels must satisfy their shapes, and the body
 * must satisfy the input shape's body members (or be the blob payload within its limits).
 */
export function bedrockRequestErrors(method: string, path: string, body: Buffer): string[] {
  const found = operationFor(method, path);
  if (!found) return [`${method} ${path}: no Bedrock Runtime operation has this path`];
  const { op, labels } = found;
  const input = serviceModel().shapes[op.input!.shape];
  const out: string[] = [];
  const members = input.members ?? {};
  for (const [name, ref] of Object.entries(members)) {
    if (ref.location !== "uri") continue;
    const v = labels[ref.locationName ?? name];
    if (v === undefined) { if (input.required?.includes(name)) out.push(`${op.name}: URI label ${name} missing`); continue; }
    shapeErrors(ref.shape, v, `uri.${name}`, out);
  }
  if (input.payload) {
    const ref = members[input.payload];
    const s = serviceModel().shapes[ref.shape];
    if (s.type === "blob") checkRange(body.length, s, "body length", `${op.name}.${input.payload}`, out);
    else {
      let json: unknown;
      try { json = JSON.parse(body.toString("utf8")); } catch { return [...out, `${op.name}: body is not JSON`]; }
      shapeErrors(ref.shape, json, `${op.name}.${input.payload}`, out);
    }
    return out;
  }
  let json: unknown;
  try { json = JSON.parse(body.toString("utf8")); } catch { return [...out, `${op.name}: body is not JSON`]; }
  shapeErrors(op.input!.shape, json, op.name, out);
  return out;
}
