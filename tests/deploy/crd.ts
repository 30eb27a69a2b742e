// Kubernetes manifests against CustomResourceDefinition schemas with ajv, the way
// `kubectl apply --validate=strict` judges them before admission: each CRD version's
// openAPIV3Schema (a structural OpenAPI 3.0 schema) is turned into a JSON Schema:
//   - unknown fields are errors (additionalProperties: false unless the CRD preserves unknown
//     fields or gives additionalProperties itself) — kubectl's strict field validation;
//   - nullable, x-kubernetes-int-or-string and OpenAPI 3.0 boolean exclusiveMinimum/Maximum are
//     translated; formats int32/int64 are range checks, byte is base64;
//   - apiVersion and kind must be the CRD's; metadata.name is required (a DNS subdomain), and
//     metadata.namespace is required for namespaced kinds and forbidden for cluster-scoped ones.
// Not evaluated: x-kubernetes-validations (CEL rules, run by the API server), list-type map key
// uniqueness. `celRules` counts the CEL rules a manifest's kind carries, so a test can say so.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import AjvModule, { type ValidateFunction, type ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";

const Ajv = (AjvModule as any).default ?? AjvModule;
const addFormats = (addFormatsModule as any).default ?? addFormatsModule;

export interface Kind { apiVersion: string; kind: string; namespaced: boolean; validate: ValidateFunction; celRules: number }

function convert(s: any, counter: { cel: number }): any {
  if (!s || typeof s !== "object") return s;
  const out: any = {};
  for (const [k, v] of Object.entries(s)) {
    switch (k) {
      case "description": case "default": case "example":
      case "x-kubernetes-list-type": case "x-kubernetes-list-map-keys": case "x-kubernetes-map-type":
      case "x-kubernetes-embedded-resource": case "nullable": case "x-kubernetes-int-or-string":
      case "x-kubernetes-preserve-unknown-fields": case "exclusiveMinimum": case "exclusiveMaximum":
        break;
      case "x-kubernetes-validations":
        counter.cel += Array.isArray(v) ? v.length : 0;
        break;
      case "properties":
        out.properties = Object.fromEntries(Object.entries(v as object).map(([p, ps]) => [p, convert(ps, counter)]));
        break;
      case "items": case "not":
        out[k] = convert(v, counter);
        break;
      case "additionalProperties":
        out.additionalProperties = typeof v === "boolean" ? v : convert(v, counter);
        break;
      case "allOf": case "anyOf": case "oneOf":
        out[k] = (v as any[]).map((x) => convert(x, counter));
        break;
      default:
        out[k] = v;
    }
  }
  if (s.exclusiveMinimum === true && "minimum" in s) { out.exclusiveMinimum = s.minimum; delete out.minimum; }
  if (s.exclusiveMaximum === true && "maximum" in s) { out.exclusiveMaximum = s.maximum; delete out.maximum; }
  if (s["x-kubernetes-int-or-string"]) {
    delete out.type;
    out.anyOf = [...(out.anyOf ?? []), { type: "integer" }, { type: "string" }];
  }
  const preserve = s["x-kubernetes-preserve-unknown-fields"] === true;
  if (out.type === "object" && out.properties && out.additionalProperties === undefined && !preserve) out.additionalProperties = false;
  if (s.nullable && out.type) out.type = [out.type, "null"];
  return out;
}

const DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/** Every served version of every CRD in dir (non-CRD documents are ignored). */
export function loadCrds(dir: string): Map<string, Kind> {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv, ["date-time", "ipv4", "ipv6"]);
  ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat("byte", { type: "string", validate: (s: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0 });
  const kinds = new Map<string, Kind>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), "utf8"))) {
      const crd = doc.toJS();
      if (!crd || crd.kind !== "CustomResourceDefinition") continue;
      const group = crd.spec.group, kind = crd.spec.names.kind, namespaced = crd.spec.scope === "Namespaced";
      for (const v of crd.spec.versions) {
        if (!v.served) continue;
        const counter = { cel: 0 };
        const schema = convert(v.schema.openAPIV3Schema, counter);
        const apiVersion = `${group}/${v.name}`;
        schema.properties = {
          ...schema.properties,
          apiVersion: { const: apiVersion },
          kind: { const: kind },
          metadata: {
            type: "object",
            required: namespaced ? ["name", "namespace"] : ["name"],
            properties: {
              name: { type: "string", minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN },
              namespace: namespaced ? { type: "string", minLength: 1, maxLength: 63, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" } : false,
              labels: { type: "object", additionalProperties: { type: "string" } },
              annotations: { type: "object", additionalProperties: { type: "string" } },
            },
            additionalProperties: false,
          },
        };
        schema.required = [...new Set([...(schema.required ?? []), "apiVersion", "kind", "metadata"])];
        schema.additionalProperties = false;
        kinds.set(`${apiVersion}/${kind}`, { apiVersion, kind, namespaced, validate: ajv.compile(schema), celRules: counter.cel });
      }
    }
  }
  return kinds;
}

export function formatErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const extra = e.keyword === "additionalProperties" ? ` (${(e.params as any).additionalProperty})`
      : e.keyword === "enum" ? ` (${JSON.stringify((e.params as any).allowedValues)})` : "";
    return `${e.instancePath || "/"} ${e.message}${extra}`;
  });
}

/** Errors of one manifest ([] = valid); unknown apiVersion/kind is an error too. */
export function validateManifest(kinds: Map<string, Kind>, m: any): string[] {
  const k = kinds.get(`${m?.apiVersion}/${m?.kind}`);
  if (!k) return [`no CRD serves ${m?.apiVersion} ${m?.kind}`];
  return k.validate(m) ? [] : formatErrors(k.validate.errors);
}
