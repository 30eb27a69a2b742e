// Vertex AI backend fields (the schemas with FIELD_VERTEX in providers/table.ts): `project` and
// `location` become URL path segments, and the location picks the default host (sources: Vertex AI REST reference;
// Claude on Bedrock and Vertex AI). The other Google defaults (Gemini's host, base paths) are columns of the provider table.

import { JNode, Kind } from "../json/json";
import { FieldChecker } from "./auth";
import { ProviderRow, FIELD_VERTEX, schemasWith } from "../providers/table";

/** Default Vertex AI host of a location: global, a multi-region (us, eu) or a region. */
export function vertexHost(location: string): string {
  if (location == "global") return "aiplatform.googleapis.com";
  // Multi-region endpoints have their own host (sources: Claude on Bedrock and Vertex AI; Vertex AI REST reference).
  if (location == "us" || location == "eu") return "aiplatform." + location + ".rep.googleapis.com";
  return location + "-aiplatform.googleapis.com";
}

export class VertexPlace {
  project: string = "";
  location: string = "";
}

/** GCP project ids and numbers (lower case, digits, '-'), and domain-scoped ids (`example.com:proj`). */
function projectOk(s: string): bool {
  if (s.length == 0 || s.length > 128) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2e || c == 0x3a)) return false;
  }
  return true;
}

/** `global`, a multi-region (`us`, `eu`) or a region (`us-central1`): lower case, digits, '-'. */
function locationOk(s: string): bool {
  if (s.length == 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d)) return false;
  }
  return true;
}

/**
 * `project` and `location` of a backend. Required on the vertex-* schemas (`project` defaults to
 * the service account key's project_id when the backend authenticates with one), refused on every
 * other schema. Returns null with the error recorded.
 */
export function parseVertexPlace(v: FieldChecker, n: JNode, path: string, row: ProviderRow, keyProject: string): VertexPlace | null {
  const p = new VertexPlace();
  const pn = v.doc.get(n, "project"), ln = v.doc.get(n, "location");
  const schema = row.name;
  if (!row.has(FIELD_VERTEX)) {
    if (pn !== null) { v.fail(path + ".project", "only for schemas " + schemasWith(FIELD_VERTEX)); return null; }
    if (ln !== null) { v.fail(path + ".location", "only for schemas " + schemasWith(FIELD_VERTEX)); return null; }
    return p;
  }
  if (pn !== null) {
    if (pn.kind != Kind.Str || !projectOk(v.doc.str(pn))) { v.fail(path + ".project", "must be a GCP project id (lower case letters, digits, '-')"); return null; }
    p.project = v.doc.str(pn);
  } else if (keyProject.length && projectOk(keyProject)) {
    p.project = keyProject;
  } else {
    v.fail(path + ".project", "required for schema " + schema + " (or a service account key with project_id)");
    return null;
  }
  if (ln === null) { v.fail(path + ".location", "required for schema " + schema + " (\"global\", \"us\", \"eu\" or a region such as \"us-central1\")"); return null; }
  if (ln.kind != Kind.Str || !locationOk(v.doc.str(ln))) { v.fail(path + ".location", "must be \"global\", \"us\", \"eu\" or a region such as \"us-central1\""); return null; }
  p.location = v.doc.str(ln);
  return p;
}
