// Stage 2, route (request body): parse the client's JSON once into the typed ClientRequest and
// pick the model route (backend + upstream model) by the `model` field. Every later stage reads
// the request from here; none re-parses the body.

import { parseJson, Kind } from "../json/json";
import { ApiError, badRequest } from "../errors";
import { LimitsConfig, StreamEdge } from "../config/config";
import { Router } from "../routing/router";
import { ClientRequest, Endpoint } from "../providers/provider";
import { Identity } from "./identify";

export class Routed {
  req: ClientRequest | null = null;
  error: ApiError | null = null;
}

export function route(body: Uint8Array, id: Identity, router: Router, limits: LimitsConfig | null, now: i64): Routed {
  const res = new Routed();
  const doc = parseJson(body);
  const root = doc.root;
  if (root === null) {
    res.error = badRequest("invalid_json", "We could not parse the JSON body of your request: " + doc.error + " at byte " + doc.errorAt.toString() + ".");
    return res;
  }
  if (root.kind != Kind.Obj) { res.error = badRequest("invalid_json", "The request body must be a JSON object."); return res; }
  const modelNode = doc.get(root, "model");
  if (modelNode === null || modelNode.kind != Kind.Str || modelNode.end - modelNode.start <= 2) {
    res.error = badRequest("missing_model", "You must provide a model parameter.", "model");
    return res;
  }
  const model = doc.str(modelNode);
  const rule = router.find(model);
  if (rule === null) {
    res.error = new ApiError(404, "invalid_request_error", "model_not_found", "The model `" + model + "` does not exist or you do not have access to it.", "model");
    return res;
  }
  const req = new ClientRequest(doc, root, rule);
  req.endpoint = id.endpoint;
  req.anthropicBeta = id.anthropicBeta;
  req.model = model;
  req.nowSeconds = now;
  const streamNode = doc.get(root, "stream");
  req.stream = streamNode !== null && streamNode.kind == Kind.Bool && streamNode.flag;
  // Budget cut and usage comment speak the chat and Responses stream formats: Messages streams are not re-framed.
  req.reframe = req.stream && limits !== null && (limits.streamEdge == StreamEdge.Cut || limits.usageEvent);
  res.req = req;
  return res;
}
