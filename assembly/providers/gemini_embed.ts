// OpenAI embeddings (sources: OpenAI Embeddings) on Google backends:
//   gemini         one string → `{model}:embedContent`, an array → `{model}:batchEmbedContents`
//                  (EmbedContentRequest / BatchEmbedContentsRequest, `outputDimensionality`);
//   vertex-gemini  `{model}:predict` with `instances[{content}]`, `parameters.outputDimensionality`;
//                  answers `predictions[].embeddings.{values, statistics.token_count}`.
// The answer becomes `{"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"}`
// with the vectors as JSON numbers (copied verbatim) or, for `encoding_format: "base64"` (what the
// official openai node client asks for by default), base64 of the little-endian float32 array.
//
// Usage: the Developer API reports no token counts for embeddings, so prompt_tokens is estimated
// as ceil(UTF-8 bytes / 4) per input (the gateway's default bytes_per_token), and that estimate is
// what limits are charged. Vertex reports statistics.token_count per instance: those are summed.

import { JNode, JsonDoc, Kind, parseJson } from "../json/json";
import { JsonWriter } from "../json/writer";
import { ApiError, badRequest, badUpstream } from "../errors";
import { ByteBuilder } from "../util/bytes";
import { appendBase64 } from "../util/base64";
import { ClientRequest, ResponseHandler, UpstreamRequest } from "./provider";
import { googleError, googleModelPath } from "./google";

/** OpenAI's limit on inputs per request. */
const MAX_INPUTS: i32 = 2048;
/** Bytes per token of the usage estimate when the backend reports none. */
const EST_BYTES_PER_TOKEN: i64 = 4;

/** The input strings (string nodes) of an embeddings request, or an error. */
class Inputs {
  nodes: JNode[] = [];
  single: bool = false;
  error: ApiError | null = null;
}

function readInputs(doc: JsonDoc, root: JNode): Inputs {
  const r = new Inputs();
  const input = doc.get(root, "input");
  if (input !== null && input.kind == Kind.Str) { r.nodes.push(input); r.single = true; }
  else if (input !== null && input.kind == Kind.Arr && input.length > 0 && input.length <= MAX_INPUTS) {
    for (let i = 0; i < input.length; i++) {
      const it = input.items![i];
      if (it.kind == Kind.Num || it.kind == Kind.Arr) {
        r.error = badRequest("unsupported_parameter", "Token arrays are not supported for Gemini embedding models; send text.", "input");
        return r;
      }
      if (it.kind != Kind.Str) { r.error = badRequest("invalid_value", "input[" + i.toString() + "] must be a string.", "input"); return r; }
      r.nodes.push(it);
    }
  } else {
    r.error = badRequest("invalid_value", "input must be a string or an array of 1 to " + MAX_INPUTS.toString() + " strings.", "input");
    return r;
  }
  for (let i = 0; i < r.nodes.length; i++) {
    if (r.nodes[i].end - r.nodes[i].start <= 2) { r.error = badRequest("invalid_value", "input must not contain empty strings.", "input"); return r; }
  }
  return r;
}

export function prepareGeminiEmbeddings(req: ClientRequest, out: UpstreamRequest, vertex: bool): ApiError | null {
  const doc = req.doc, root = req.root;
  const inputs = readInputs(doc, root);
  if (inputs.error !== null) return inputs.error;
  const ef = doc.get(root, "encoding_format");
  if (ef !== null && ef.kind != Kind.Null && !doc.strIs(ef, "float") && !doc.strIs(ef, "base64")) return badRequest("invalid_value", "encoding_format must be float or base64.", "encoding_format");
  const dims = doc.get(root, "dimensions");
  if (dims !== null && dims.kind != Kind.Null && !(dims.kind == Kind.Num && dims.num == Math.floor(dims.num) && dims.num >= 1 && dims.num <= 65536)) {
    return badRequest("invalid_value", "dimensions must be a positive integer.", "dimensions");
  }
  const hasDims = dims !== null && dims.kind == Kind.Num;
  const model = req.upstreamModel;
  const nodes = inputs.nodes;
  const b = new ByteBuilder(doc.src.length + 64 + nodes.length * (vertex ? 16 : 64 + model.length));
  const w = new JsonWriter(b);
  w.obj();
  let method = "";
  if (vertex) {
    method = ":predict";
    w.key("instances").arr();
    for (let i = 0; i < nodes.length; i++) w.obj().kRaw("content", doc, nodes[i]).end();
    w.end();
    if (hasDims) w.key("parameters").obj().kRaw("outputDimensionality", doc, dims!).end();
  } else if (inputs.single) {
    method = ":embedContent";
    w.key("content").obj().key("parts").arr().obj().kRaw("text", doc, nodes[0]).end().end().end();
    if (hasDims) w.kRaw("outputDimensionality", doc, dims!);
  } else {
    method = ":batchEmbedContents";
    // Each request names its model (the same as the URL's), as BatchEmbedContentsRequest requires.
    const qualified = "models/" + model;
    w.key("requests").arr();
    for (let i = 0; i < nodes.length; i++) {
      w.obj().kStr("model", qualified).key("content").obj().key("parts").arr().obj().kRaw("text", doc, nodes[i]).end().end().end();
      if (hasDims) w.kRaw("outputDimensionality", doc, dims!);
      w.end();
    }
    w.end();
  }
  w.end();
  out.body = b;
  out.path = googleModelPath(req.backend, vertex, "google", model) + method;
  return null;
}

/** Decoded UTF-8 length of a JSON string node without decoding it (escapes counted by what they stand for). */
function utf8Length(doc: JsonDoc, n: JNode): i64 {
  if (!n.flag) return <i64>(n.end - n.start - 2);
  return <i64>doc.strSpan(n).length;
}

/** The embeddings answer of a Google backend → OpenAI CreateEmbeddingResponse. */
export class GeminiEmbedJson extends ResponseHandler {
  // Always JSON for the client, whatever label the provider put on its answer.
  constructor(private req: ClientRequest, private vertex: bool) { super(); this.wholeBody = true; this.rewrites = true; this.contentType = "application/json"; }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const provider = this.vertex ? "Vertex AI" : "Gemini";
    const doc = parseJson(chunk);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) return this.answerError(out, badUpstream("The " + provider + " backend returned a response that is not valid JSON."));
    const ge = googleError(doc, root, 200, provider); // an error inside a 2xx: its own `code` gives the status
    if (ge !== null) return this.answerError(out, ge);

    // The vectors, one `values` array per input, and Vertex's token counts.
    const vectors = new Array<JNode>();
    let tokens: i64 = 0;
    let counted = false;
    if (this.vertex) {
      const preds = doc.get(root, "predictions");
      if (preds !== null && preds.kind == Kind.Arr) {
        for (let i = 0; i < preds.length; i++) {
          const e = doc.get(preds.items![i], "embeddings");
          const v = doc.get(e, "values");
          if (v !== null) vectors.push(v);
          const tc = doc.get(doc.get(e, "statistics"), "token_count");
          if (tc !== null && tc.kind == Kind.Num) { tokens += doc.int(tc); counted = true; }
        }
      }
    } else {
      const one = doc.get(doc.get(root, "embedding"), "values");
      if (one !== null) vectors.push(one);
      const many = doc.get(root, "embeddings");
      if (many !== null && many.kind == Kind.Arr) for (let i = 0; i < many.length; i++) {
        const v = doc.get(many.items![i], "values");
        if (v !== null) vectors.push(v);
      }
    }
    const inputs = readInputs(this.req.doc, this.req.root);
    if (vectors.length == 0 || vectors.length != inputs.nodes.length) {
      return this.answerError(out, badUpstream("The " + provider + " backend returned " + vectors.length.toString() + " embeddings for " + inputs.nodes.length.toString() + " inputs."));
    }
    for (let i = 0; i < vectors.length; i++) {
      const v = vectors[i];
      if (v.kind != Kind.Arr) return this.answerError(out, badUpstream("The " + provider + " backend returned an embedding that is not an array of numbers."));
      for (let j = 0; j < v.length; j++) if (v.items![j].kind != Kind.Num) return this.answerError(out, badUpstream("The " + provider + " backend returned an embedding that is not an array of numbers."));
    }
    if (!counted) {
      for (let i = 0; i < inputs.nodes.length; i++) tokens += (utf8Length(this.req.doc, inputs.nodes[i]) + EST_BYTES_PER_TOKEN - 1) / EST_BYTES_PER_TOKEN;
    }
    const u = this.usage;
    u.reported = true;
    u.final = true;
    u.input = tokens;
    u.total = tokens;

    const base64 = this.req.doc.strIs(this.req.doc.get(this.req.root, "encoding_format"), "base64");
    const w = new JsonWriter(out);
    w.obj().kStr("object", "list").key("data").arr();
    const f32 = new ByteBuilder(base64 ? 4 * 1024 : 16);
    for (let i = 0; i < vectors.length; i++) {
      const v = vectors[i];
      w.obj().kStr("object", "embedding").kInt("index", i).key("embedding");
      const e = w.value();
      if (base64) {
        f32.reset();
        f32.ensure(v.length * 4);
        for (let j = 0; j < v.length; j++) {
          // Little-endian float32, as the OpenAI clients decode it (wasm is little-endian).
          store<f32>(f32.buf.dataStart + <usize>f32.len, <f32>v.items![j].num);
          f32.len += 4;
        }
        e.byte(0x22);
        appendBase64(e, f32.buf, 0, f32.len);
        e.byte(0x22);
      } else {
        // The provider's numbers verbatim (exact), without its pretty-printing whitespace.
        e.byte(0x5b);
        for (let j = 0; j < v.length; j++) {
          if (j > 0) e.byte(0x2c);
          doc.copyTo(v.items![j], e);
        }
        e.byte(0x5d);
      }
      w.end();
    }
    w.end();
    w.kStr("model", this.req.upstreamModel);
    w.key("usage").obj().kInt("prompt_tokens", tokens).kInt("total_tokens", tokens).end();
    w.end();
    return true;
  }
}
