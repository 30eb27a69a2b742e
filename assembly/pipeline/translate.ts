// Stage 4, translate, both directions. Request: the provider module of the chosen backend turns
// the typed ClientRequest into the UpstreamRequest (path, body, headers). Response: the same
// module gives the handler that turns upstream bytes into the client's format as they flow.
//
// Inputs are only the typed request and the chosen route (backend + upstream model): nothing
// that exists only downstream. Running translate once per upstream attempt, in Envoy's upstream
// filter chain, passes that attempt's route; the code does not change.

import { ModelRule } from "../config/config";
import { ApiError } from "../errors";
import { ClientRequest, Endpoint, ResponseHandler, UpstreamRequest } from "../providers/provider";
import { prepareMessagesRequest } from "../providers/messages_in";
import { messagesResponseHandler } from "../providers/messages_out";
import { prepareResponsesRequest } from "../providers/responses_in";
import { responsesResponseHandler } from "../providers/responses_out";
import { HeaderMap } from "./headers";

/** The upstream request for `target`, or the error to answer the client with. */
export function translateRequest(req: ClientRequest, target: ModelRule, out: UpstreamRequest): ApiError | null {
  req.rule = target;
  const provider = target.backend.provider;
  return req.endpoint == Endpoint.Messages ? prepareMessagesRequest(provider, req, out)
    : req.endpoint == Endpoint.Responses ? prepareResponsesRequest(provider, req, out) : provider.prepare(req, out);
}

/** The handler for the upstream answer (status, response headers) to `req`. */
export function translateResponse(req: ClientRequest, status: i32, h: HeaderMap): ResponseHandler {
  const provider = req.backend.provider;
  const wanted = provider.responseHeaderNames();
  for (let i = 0; i < wanted.length; i++) {
    const v = h.get(wanted[i]);
    if (v.length > 0) { req.responseHeaders.push(wanted[i]); req.responseHeaders.push(v); }
  }
  // A Messages or Responses request translated to chat: the provider reads its headers from the chat request.
  if (req.chat !== null) req.chat!.responseHeaders = req.responseHeaders;
  const ct = h.get("content-type").toLowerCase();
  return req.endpoint == Endpoint.Messages ? messagesResponseHandler(provider, req, status, ct)
    : req.endpoint == Endpoint.Responses ? responsesResponseHandler(provider, req, status, ct) : provider.response(req, status, ct);
}
