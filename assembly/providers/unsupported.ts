// OpenAI request parameters a translating provider cannot honour. Refusing them with a clear 400
// beats dropping them silently; each provider names the set that applies to it.

import { JNode, JsonDoc, Kind } from "../json/json";
import { ApiError, badRequest } from "../errors";

export namespace Refuse {
  export const N: u32 = 1 << 0;                    // n > 1
  export const LOGPROBS: u32 = 1 << 1;             // logprobs: true, top_logprobs > 0
  export const LOGIT_BIAS: u32 = 1 << 2;
  export const PENALTIES: u32 = 1 << 3;            // presence_penalty / frequency_penalty ≠ 0
  export const SEED: u32 = 1 << 4;
  export const AUDIO: u32 = 1 << 5;                // audio output, non-text modalities
  export const PREDICTION: u32 = 1 << 6;
  export const WEB_SEARCH: u32 = 1 << 7;           // web_search_options
  export const FUNCTIONS: u32 = 1 << 8;            // the deprecated `functions`
  export const SERIAL_TOOLS: u32 = 1 << 9;         // parallel_tool_calls: false
  export const SERVICE_TIER: u32 = 1 << 10;        // service_tier other than auto / default
}

function refuse(param: string, message: string): ApiError { return badRequest("unsupported_parameter", message, param); }

/** The first parameter in `set` the request uses, as a 400 naming it and `models`; null if none. */
export function refuseUnsupported(doc: JsonDoc, root: JNode, set: u32, models: string): ApiError | null {
  const by = " is not supported by " + models + ".";
  if (set & Refuse.N) {
    const n = doc.get(root, "n");
    if (n !== null && n.kind != Kind.Null && !(n.kind == Kind.Num && n.num == 1)) return refuse("n", "n > 1" + by);
  }
  if (set & Refuse.LOGPROBS) {
    const lp = doc.get(root, "logprobs");
    if (lp !== null && lp.kind == Kind.Bool && lp.flag) return refuse("logprobs", "logprobs" + by);
    const tlp = doc.get(root, "top_logprobs");
    if (tlp !== null && tlp.kind == Kind.Num && tlp.num > 0) return refuse("top_logprobs", "top_logprobs" + by);
  }
  if (set & Refuse.LOGIT_BIAS) {
    const lb = doc.get(root, "logit_bias");
    if (lb !== null && lb.kind == Kind.Obj && lb.keys!.length > 0) return refuse("logit_bias", "logit_bias" + by);
  }
  if (set & Refuse.PENALTIES) {
    const pp = doc.get(root, "presence_penalty");
    if (pp !== null && pp.kind == Kind.Num && pp.num != 0) return refuse("presence_penalty", "presence_penalty" + by);
    const fp = doc.get(root, "frequency_penalty");
    if (fp !== null && fp.kind == Kind.Num && fp.num != 0) return refuse("frequency_penalty", "frequency_penalty" + by);
  }
  if (set & Refuse.SEED) {
    const seed = doc.get(root, "seed");
    if (seed !== null && seed.kind != Kind.Null) return refuse("seed", "seed" + by);
  }
  if (set & Refuse.AUDIO) {
    const audio = doc.get(root, "audio");
    if (audio !== null && audio.kind != Kind.Null) return refuse("audio", "audio output" + by);
    const mods = doc.get(root, "modalities");
    if (mods !== null && mods.kind == Kind.Arr) {
      for (let i = 0; i < mods.length; i++) if (!doc.strIs(mods.items![i], "text")) return refuse("modalities", "Only text output is supported by " + models + ".");
    }
  }
  if (set & Refuse.PREDICTION) {
    const pred = doc.get(root, "prediction");
    if (pred !== null && pred.kind != Kind.Null) return refuse("prediction", "prediction" + by);
  }
  if (set & Refuse.WEB_SEARCH) {
    const ws = doc.get(root, "web_search_options");
    if (ws !== null && ws.kind != Kind.Null) return refuse("web_search_options", "web_search_options" + by);
  }
  if (set & Refuse.FUNCTIONS) {
    const fns = doc.get(root, "functions");
    if (fns !== null && fns.kind != Kind.Null) return refuse("functions", "The deprecated functions parameter is not supported; use tools.");
  }
  if (set & Refuse.SERIAL_TOOLS) {
    const ptc = doc.get(root, "parallel_tool_calls");
    if (ptc !== null && ptc.kind == Kind.Bool && !ptc.flag) return refuse("parallel_tool_calls", "parallel_tool_calls: false cannot be enforced by " + models + ".");
  }
  if (set & Refuse.SERVICE_TIER) {
    // auto and default are what the provider does anyway; a paid tier it has no switch for is not.
    const st = doc.get(root, "service_tier");
    if (st !== null && st.kind != Kind.Null && !doc.strIs(st, "auto") && !doc.strIs(st, "default")) {
      return refuse("service_tier", "service_tier " + (st.kind == Kind.Str ? doc.str(st) + " " : "") + "is not supported by " + models + " (auto and default are).");
    }
  }
  return null;
}
