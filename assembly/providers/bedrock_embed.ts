// OpenAI embeddings on Bedrock through InvokeModel (`POST /model/{modelId}/invoke`), for the two
// model families with a documented native body (AWS Bedrock user guide, model parameters):
//   Amazon Titan (`amazon.titan-embed-*`): {"inputText", "dimensions"?, "normalize"?} → one vector,
//     {"embedding": [...], "inputTextTokenCount": n}. One input per call: an array of several
//     inputs is refused with a 400 (fanning out would take several signed upstream calls per
//     client request, which this filter does not do).
//   Cohere (`cohere.embed-*`): {"texts": [...], "input_type", "embedding_types": ["float"],
//     "output_dimension"? (v4)} → {"embeddings": [[...]] | {"float": [[...]]}}; up to 96 texts per
//     call; the token count is in the `X-Amzn-Bedrock-Input-Token-Count` response header.
// The response becomes OpenAI's `{"object":"list","data":[…],"model","usage"}`, with
// `encoding_format: "base64"` (the official openai client's default) answered as base64 of the
// little-endian float32 vector, as OpenAI does.

import { JNode, JsonDoc, Kind, parseJson } from "../json/json";
import { JsonWriter } from "../json/writer";
import { ApiError, badRequest, badUpstream } from "../errors";
import { ByteBuilder } from "../util/bytes";
import { appendBase64 } from "../util/base64";
import { ClientRequest, ResponseHandler, UpstreamRequest } from "./provider";
import { BedrockError, bedrockModelPath } from "./bedrock_common";

const enum Family { Unknown = 0, Titan = 1, Cohere = 2 }

/** Cohere's documented limit of texts per InvokeModel call. */
const COHERE_MAX_TEXTS: i32 = 96;

function familyOf(model: string): Family {
  if (model.includes("amazon.titan-embed")) return Family.Titan;
  if (model.includes("cohere.embed")) return Family.Cohere;
  return Family.Unknown;
}

/** Builds the InvokeModel body for an OpenAI embeddings request, or the 400 to answer with. */
export function prepareEmbeddings(req: ClientRequest, out: UpstreamRequest): ApiError | null {
  const doc = req.doc, root = req.root;
  const model = req.upstreamModel;
  const family = familyOf(model);
  if (family == Family.Unknown) {
    return badRequest("unsupported_model", "Embeddings on Bedrock are supported for Amazon Titan (amazon.titan-embed-*) and Cohere (cohere.embed-*) models, not " + model + ".", "model");
  }
  const fmt = doc.get(root, "encoding_format");
  if (fmt !== null && fmt.kind != Kind.Null && !doc.strIs(fmt, "float") && !doc.strIs(fmt, "base64")) {
    return badRequest("invalid_value", "encoding_format must be float or base64.", "encoding_format");
  }
  // input: a string or an array of strings (token arrays have no Bedrock equivalent).
  const input = doc.get(root, "input");
  const texts = new Array<JNode>();
  if (input !== null && input.kind == Kind.Str) texts.push(input);
  else if (input !== null && input.kind == Kind.Arr && input.length > 0) {
    for (let i = 0; i < input.length; i++) {
      const t = input.items![i];
      if (t.kind != Kind.Str) return badRequest("invalid_value", "input must be a string or an array of strings for Bedrock embedding models (token arrays are not supported).", "input");
      texts.push(t);
    }
  } else return badRequest("invalid_value", "input must be a non-empty string or array of strings.", "input");
  const dims = doc.get(root, "dimensions");
  if (dims !== null && dims.kind != Kind.Null && (dims.kind != Kind.Num || dims.num < 1 || dims.num != Math.floor(dims.num) || dims.num > 65536)) {
    return badRequest("invalid_value", "dimensions must be a positive integer.", "dimensions");
  }
  const hasDims = dims !== null && dims.kind == Kind.Num;

  const b = new ByteBuilder(doc.src.length + 64);
  const w = new JsonWriter(b);
  w.obj();
  if (family == Family.Titan) {
    if (texts.length != 1) {
      return badRequest("unsupported_parameter", "Titan embedding models take one input per request; this request has " + texts.length.toString() + ". Send the inputs one at a time.", "input");
    }
    w.kRaw("inputText", doc, texts[0]);
    if (model.includes("titan-embed-text-v2")) {
      if (hasDims) w.kRaw("dimensions", doc, dims!);
      // OpenAI embeddings are unit vectors; Titan v2 normalizes by default, said explicitly here.
      w.key("normalize").bool(true);
    } else if (model.includes("titan-embed-image")) {
      if (hasDims) w.key("embeddingConfig").obj().kRaw("outputEmbeddingLength", doc, dims!).end();
    } else if (hasDims) {
      return badRequest("unsupported_parameter", "dimensions is supported by Titan Text Embeddings V2 (amazon.titan-embed-text-v2) and Titan Multimodal Embeddings, not " + model + ".", "dimensions");
    }
  } else {
    if (texts.length > COHERE_MAX_TEXTS) {
      return badRequest("unsupported_parameter", "Cohere embedding models on Bedrock take at most " + COHERE_MAX_TEXTS.toString() + " inputs per request; this request has " + texts.length.toString() + ".", "input");
    }
    w.key("texts").arr();
    for (let i = 0; i < texts.length; i++) w.raw(doc, texts[i]);
    w.end();
    // Not an OpenAI field: a client may pick Cohere's input_type (search_query for queries).
    const it = doc.get(root, "input_type");
    if (it !== null && it.kind == Kind.Str) w.kRaw("input_type", doc, it);
    else if (it !== null && it.kind != Kind.Null) return badRequest("invalid_value", "input_type must be a string.", "input_type");
    else w.kStr("input_type", "search_document");
    w.key("embedding_types").arr().str("float").end();
    if (hasDims) {
      if (!model.includes("embed-v4")) return badRequest("unsupported_parameter", "dimensions is supported by Cohere Embed v4 (cohere.embed-v4), not " + model + ".", "dimensions");
      w.kRaw("output_dimension", doc, dims!);
    }
  }
  w.end();
  out.body = b;
  out.path = bedrockModelPath(req, "invoke");
  // InvokeModel's Accept header picks the response body's MIME type.
  out.headers.push("accept"); out.headers.push("application/json");
  return null;
}

export function embeddingsResponse(req: ClientRequest, status: i32): ResponseHandler {
  if (status < 200 || status >= 300) return new BedrockError(req, status);
  const fmt = req.doc.get(req.root, "encoding_format");
  return new EmbeddingsJson(req, familyOf(req.upstreamModel), req.doc.strIs(fmt, "base64"));
}

/** A JSON array of numbers (an embedding vector). */
function isVector(n: JNode | null): bool {
  if (n === null || n.kind != Kind.Arr) return false;
  for (let i = 0; i < n.length; i++) if (n.items![i].kind != Kind.Num) return false;
  return true;
}

function parseCount(s: string): i64 {
  if (s.length == 0 || s.length > 15) return -1;
  let v: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + <i64>(c - 0x30);
  }
  return v;
}

class EmbeddingsJson extends ResponseHandler {
  private f32: ByteBuilder = new ByteBuilder(4096);

  constructor(private req: ClientRequest, private family: Family, private base64: bool) {
    super();
    this.wholeBody = true;
    this.rewrites = true;
  }

  private bad(out: ByteBuilder, why: string): bool {
    return this.answerError(out, badUpstream("The Bedrock embedding response " + why + "."));
  }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) return this.bad(out, "is not valid JSON");
    const vectors = new Array<JNode>();
    let tokens: i64 = -1;
    if (this.family == Family.Titan) {
      let v = doc.get(root, "embedding");
      if (!isVector(v)) v = doc.get(doc.get(root, "embeddingsByType"), "float");
      if (!isVector(v)) return this.bad(out, "has no embedding vector");
      vectors.push(v!);
      const n = doc.get(root, "inputTextTokenCount");
      if (n !== null && n.kind == Kind.Num) tokens = doc.int(n);
    } else {
      let list = doc.get(root, "embeddings");
      if (list !== null && list.kind == Kind.Obj) list = doc.get(list, "float"); // embeddings_by_type
      if (list === null || list.kind != Kind.Arr || list.length == 0) return this.bad(out, "has no embeddings");
      for (let i = 0; i < list.length; i++) {
        const v = list.items![i];
        if (!isVector(v)) return this.bad(out, "has an embedding that is not an array of numbers");
        vectors.push(v);
      }
      const mb = doc.get(doc.get(doc.get(root, "meta"), "billed_units"), "input_tokens");
      if (mb !== null && mb.kind == Kind.Num) tokens = doc.int(mb);
    }
    // InvokeModel reports the input tokens in a header for every model; the body count wins for Titan.
    const h = parseCount(this.req.responseHeader("x-amzn-bedrock-input-token-count"));
    if (h >= 0 && (tokens < 0 || this.family == Family.Cohere)) tokens = h;
    if (tokens < 0) tokens = 0;
    const u = this.usage;
    u.input = tokens; u.total = tokens; u.reported = true; u.final = true;

    const w = new JsonWriter(out);
    w.obj().kStr("object", "list").key("data").arr();
    for (let i = 0; i < vectors.length; i++) {
      const v = unchecked(vectors[i]);
      w.obj().kStr("object", "embedding").kInt("index", i).key("embedding");
      if (this.base64) this.writeBase64(w, doc, v);
      else w.raw(doc, v);
      w.end();
    }
    w.end().kStr("model", this.req.upstreamModel);
    w.key("usage").obj().kInt("prompt_tokens", tokens).kInt("total_tokens", tokens).end();
    w.end();
    this.contentType = "application/json";
    return true;
  }

  /** OpenAI's base64 encoding: the vector as little-endian float32, base64 (standard alphabet). */
  private writeBase64(w: JsonWriter, doc: JsonDoc, v: JNode): void {
    const f = this.f32;
    f.reset();
    const n = v.length;
    f.ensure(n * 4);
    const p = f.buf.dataStart;
    for (let i = 0; i < n; i++) store<f32>(p + <usize>(i * 4), <f32>unchecked(v.items![i]).num); // wasm is little-endian
    f.len = n * 4;
    const b = w.value();
    b.byte(0x22);
    appendBase64(b, f.buf, 0, f.len);
    b.byte(0x22);
  }
}
