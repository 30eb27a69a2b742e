// What an Anthropic Messages API client receives, checked strictly: JSON bodies and stream events
// against anthropic-messages.schema.json (written from sources: Anthropic Messages API), the
// SSE framing the Anthropic SDK reads (`event: <type>` + one `data:` line whose JSON `type` is the
// event name), and the stream's state machine (sources: Anthropic streaming): message_start first, content blocks opened,
// filled and closed one at a time with dense indexes and deltas of their own kind, message_delta,
// then message_stop last (or an `error` event last).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { ErrorObject, ValidateFunction } from "ajv";

const require = createRequire(import.meta.url);
const Ajv2020 = require("ajv/dist/2020") as typeof import("ajv/dist/2020.js").default;

export const MESSAGES_SCHEMA_PATH = fileURLToPath(new URL("./anthropic-messages.schema.json", import.meta.url));
const ID = "urn:ai-gateway:anthropic-messages";

export type MessagesSchemaName = "Message" | "StreamEvent" | "ErrorResponse" | "MessageStartEvent" | "MessageDeltaEvent";

let validators: Map<MessagesSchemaName, ValidateFunction> | undefined;

function compile(): Map<MessagesSchemaName, ValidateFunction> {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema(JSON.parse(readFileSync(MESSAGES_SCHEMA_PATH, "utf8")));
  const out = new Map<MessagesSchemaName, ValidateFunction>();
  for (const name of ["Message", "StreamEvent", "ErrorResponse", "MessageStartEvent", "MessageDeltaEvent"] as const) {
    const v = ajv.getSchema(`${ID}#/$defs/${name}`);
    if (!v) throw new Error(`${MESSAGES_SCHEMA_PATH} has no $defs/${name}`);
    out.set(name, v);
  }
  return out;
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`);
}

/** Schema violations of `value` as a `name` (empty when valid). */
export function messagesSchemaErrors(name: MessagesSchemaName, value: unknown): string[] {
  validators ??= compile();
  const v = validators.get(name)!;
  return v(value) ? [] : describe(v.errors);
}

export function assertMessagesSchema(name: MessagesSchemaName, value: unknown, what: string = name): void {
  const errs = messagesSchemaErrors(name, value);
  if (errs.length) throw new Error(`${what} is not a valid Anthropic ${name}: ${errs.join("; ")}\n  value: ${JSON.stringify(value).slice(0, 2000)}`);
}

export interface MessagesSse {
  /** The parsed `data:` JSON of each event, in order. */
  events: any[];
  /** The `event:` name of each (always equal to its JSON `type`). */
  names: string[];
}

/**
 * Strict reader: every event is `event: <name>\n` + one `data: <json>\n` + a blank line, LF only,
 * and the data's `type` equals the event name (the SDK dispatches on the event line and ignores
 * events without one). `: comment` lines are allowed only when `allowComments`.
 */
export function parseMessagesSse(text: string, opts: { allowComments?: boolean } = {}): MessagesSse {
  if (text.includes("\r")) throw new Error("expected LF line endings; found CR");
  const parts = text.split("\n\n");
  const tail = parts.pop();
  if (tail !== "") throw new Error(`stream does not end with a blank line; trailing text: ${JSON.stringify(tail!.slice(0, 200))}`);
  const out: MessagesSse = { events: [], names: [] };
  parts.forEach((raw, i) => {
    const lines = raw.split("\n").filter((l) => !(opts.allowComments && l.startsWith(":")));
    if (lines.length === 0) return;
    if (lines.length !== 2 || !lines[0].startsWith("event: ") || !lines[1].startsWith("data: ")) {
      throw new Error(`event ${i} is not 'event: <name>' + one 'data: <json>' line: ${JSON.stringify(raw.slice(0, 300))}`);
    }
    const name = lines[0].slice("event: ".length);
    let data: any;
    try { data = JSON.parse(lines[1].slice("data: ".length)); } catch (e) { throw new Error(`event ${i} (${name}): data is not JSON: ${(e as Error).message}: ${lines[1].slice(0, 200)}`); }
    if (!data || typeof data !== "object" || data.type !== name) throw new Error(`event ${i}: event name ${JSON.stringify(name)} but data.type ${JSON.stringify(data?.type)}`);
    out.events.push(data);
    out.names.push(name);
  });
  return out;
}

/** Contract problems of a Messages event sequence (schema + sources: Anthropic streaming state machine). */
export function messagesStreamProblems(events: any[]): string[] {
  const out: string[] = [];
  events.forEach((ev, i) => out.push(...messagesSchemaErrors("StreamEvent", ev).map((e) => `event ${i} (${ev?.type}): ${e}`)));
  if (events.length === 0) return ["no events"];
  const errAt = events.findIndex((e) => e?.type === "error");
  if (errAt >= 0 && errAt !== events.length - 1) out.push(`events after the error event at ${errAt}`);
  const body = errAt >= 0 ? events.slice(0, errAt) : events;
  if (errAt < 0) {
    if (events[0]?.type !== "message_start") out.push(`first event is ${events[0]?.type}, not message_start`);
    if (events[events.length - 1]?.type !== "message_stop") out.push(`last event is ${events[events.length - 1]?.type}, not message_stop (or error)`);
  } else if (body.length > 0 && body[0]?.type !== "message_start") out.push(`first event is ${body[0]?.type}, not message_start`);
  let open = -1, openKind = "", next = 0, sawDelta = false, toolJson = "";
  body.forEach((ev, i) => {
    const t = ev?.type;
    if (t === "message_start" && i !== 0) out.push(`event ${i}: a second message_start`);
    if (sawDelta && t !== "message_stop" && t !== "message_delta" && t !== "ping") out.push(`event ${i}: ${t} after message_delta`);
    if (t === "content_block_start") {
      if (open >= 0) out.push(`event ${i}: block ${ev.index} opened while block ${open} is open`);
      if (ev.index !== next) out.push(`event ${i}: block index ${ev.index}, expected ${next} (dense, in order)`);
      open = ev.index; openKind = ev.content_block?.type; next = ev.index + 1; toolJson = "";
    } else if (t === "content_block_delta") {
      if (ev.index !== open) out.push(`event ${i}: delta for block ${ev.index} but the open block is ${open}`);
      const want: Record<string, string[]> = { text: ["text_delta", "citations_delta"], tool_use: ["input_json_delta"], thinking: ["thinking_delta", "signature_delta"] };
      if (!(want[openKind] ?? []).includes(ev.delta?.type)) out.push(`event ${i}: ${ev.delta?.type} in a ${openKind} block`);
      if (ev.delta?.type === "input_json_delta") toolJson += ev.delta.partial_json;
    } else if (t === "content_block_stop") {
      if (ev.index !== open) out.push(`event ${i}: stop for block ${ev.index} but the open block is ${open}`);
      if (openKind === "tool_use" && toolJson !== "") {
        try { const v = JSON.parse(toolJson); if (!v || typeof v !== "object" || Array.isArray(v)) out.push(`event ${i}: tool input is not an object: ${toolJson}`); } catch { out.push(`event ${i}: tool input JSON does not parse: ${toolJson.slice(0, 200)}`); }
      }
      open = -1; openKind = "";
    } else if (t === "message_delta") {
      if (open >= 0) out.push(`event ${i}: message_delta while block ${open} is open`);
      sawDelta = true;
    } else if (t === "message_stop") {
      if (!sawDelta) out.push(`event ${i}: message_stop without message_delta`);
    }
  });
  return out;
}

/**
 * The message a client assembles from the events (what the SDK's MessageStream does): used to
 * compare a stream with the non-streamed answer.
 */
export function assembleMessage(events: any[]): any {
  let msg: any;
  const json: string[] = [];
  for (const ev of events) {
    if (ev.type === "message_start") msg = structuredClone(ev.message);
    else if (ev.type === "content_block_start") { msg.content[ev.index] = structuredClone(ev.content_block); json[ev.index] = ""; }
    else if (ev.type === "content_block_delta") {
      const b = msg.content[ev.index], d = ev.delta;
      if (d.type === "text_delta") b.text += d.text;
      else if (d.type === "thinking_delta") b.thinking += d.thinking;
      else if (d.type === "signature_delta") b.signature = d.signature;
      else if (d.type === "input_json_delta") json[ev.index] += d.partial_json;
    } else if (ev.type === "content_block_stop") {
      const b = msg.content[ev.index];
      if (b.type === "tool_use" && json[ev.index]) b.input = JSON.parse(json[ev.index]);
    } else if (ev.type === "message_delta") {
      msg.stop_reason = ev.delta.stop_reason;
      msg.stop_sequence = ev.delta.stop_sequence;
      for (const [k, v] of Object.entries(ev.usage)) if (v !== null && v !== undefined) msg.usage[k] = v;
    }
  }
  return msg;
}
