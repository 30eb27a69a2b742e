// GET /v1/models and /v1/models/<id>: answered by the gateway from its model routes (exact
// names only; patterns are not models). No stage after identify runs for these.

import { Config } from "../config/config";
import { ApiError } from "../errors";
import { ByteBuilder } from "../util/bytes";

export class ModelsAnswer {
  body: ByteBuilder | null = null;
  error: ApiError | null = null;
}

export function answerModels(cfg: Config, path: string): ModelsAnswer {
  const res = new ModelsAnswer();
  const b = new ByteBuilder(256);
  const single = path.startsWith("/v1/models/");
  const wanted = single ? path.substring(11) : "";
  if (!single) b.str("{\"object\":\"list\",\"data\":[");
  let n = 0;
  for (let i = 0; i < cfg.models.length; i++) {
    const r = cfg.models[i];
    if (r.parts.length != 1) continue;
    if (single && r.pattern != wanted) continue;
    if (n++ > 0) b.byte(0x2c);
    b.str("{\"id\":"); b.jsonString(r.pattern);
    b.str(",\"object\":\"model\",\"created\":0,\"owned_by\":"); b.jsonString(r.backend.name); b.byte(0x7d);
    if (single) break;
  }
  if (!single) b.str("]}");
  if (single && n == 0) {
    res.error = new ApiError(404, "invalid_request_error", "model_not_found", "The model `" + wanted + "` does not exist or you do not have access to it.", "model");
    return res;
  }
  res.body = b;
  return res;
}
