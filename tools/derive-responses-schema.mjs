// Derives tests/support/openai-responses.schema.json from OpenAI's published OpenAPI document
// (openai/openai-openapi, openapi.yaml): the Responses API roots and every schema they reach, as
// one self-contained JSON Schema 2020-12 bundle the tests validate against with Ajv.
// Transformations (the only ones): `#/components/schemas/X` refs (and discriminator mappings)
// become `#/$defs/X`; OpenAPI 3.0 `nullable` becomes standard JSON Schema (a "null" type, or an
// anyOf with {type: "null"} where no type is given); the draft 2019-09 recursion of a few filter
// schemas (`$recursiveAnchor` / `$recursiveRef: "#"`) becomes a plain `$ref` to the schema itself.
//   node tools/derive-responses-schema.mjs <path/to/openapi.yaml> [commit]
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { parse } from "yaml";

const [src, commit = "unknown"] = process.argv.slice(2);
if (!src) { console.error("usage: node tools/derive-responses-schema.mjs <openapi.yaml> [commit]"); process.exit(2); }
const text = readFileSync(src, "utf8");
const spec = parse(text);
const schemas = spec.components.schemas;
const ROOTS = ["CreateResponse", "Response", "ResponseStreamEvent", "ErrorResponse"];
const PREFIX = "#/components/schemas/";
const seen = new Set();
let nullables = 0;

function rewrite(node, self) {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, self));
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "$recursiveAnchor") continue;
    if (k === "$recursiveRef" && v === "#") { out.$ref = "#/$defs/" + self; continue; }
    if (k === "$ref" && typeof v === "string" && v.startsWith(PREFIX)) { visit(v.slice(PREFIX.length)); out[k] = "#/$defs/" + v.slice(PREFIX.length); }
    else if (k === "mapping" && v && typeof v === "object" && !Array.isArray(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([mk, mv]) => { if (typeof mv === "string" && mv.startsWith(PREFIX)) { visit(mv.slice(PREFIX.length)); return [mk, "#/$defs/" + mv.slice(PREFIX.length)]; } return [mk, mv]; }));
    } else out[k] = rewrite(v, self);
  }
  if ("nullable" in out) {
    const n = out.nullable;
    delete out.nullable;
    if (n === true) {
      nullables++;
      if ("type" in out) {
        out.type = Array.isArray(out.type) ? [...new Set([...out.type, "null"])] : out.type === "null" ? "null" : [out.type, "null"];
        if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
      } else {
        const ann = {};
        for (const a of ["description", "title", "default", "example", "deprecated"]) if (a in out) { ann[a] = out[a]; delete out[a]; }
        return { ...ann, anyOf: [out, { type: "null" }] };
      }
    }
  }
  return out;
}

const defs = {};
function visit(name) {
  if (seen.has(name)) return;
  if (!(name in schemas)) throw new Error(`no schema ${name}`);
  seen.add(name);
  defs[name] = rewrite(schemas[name], name);
}
for (const r of ROOTS) visit(r);
const sorted = Object.fromEntries(Object.keys(defs).sort().map((k) => [k, defs[k]]));
const bundle = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "urn:openai-openapi:responses-bundle",
  "x-source": { repository: "openai/openai-openapi", path: "openapi.yaml", commit, sha256: createHash("sha256").update(text).digest("hex") },
  "x-roots": ROOTS,
  "x-nullable-normalized": nullables,
  $defs: sorted,
};
writeFileSync(new URL("../tests/support/openai-responses.schema.json", import.meta.url), JSON.stringify(bundle) + "\n");
console.log(`${Object.keys(sorted).length} definitions, ${nullables} nullable normalized`);
