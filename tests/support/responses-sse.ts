// Responses API streams as a client sees them: the SSE body parsed into events, and the contract
// the events must keep beyond each one's schema (tests/support/openai-schema.ts).

/** The events of a Responses SSE body: `event:` names must equal the data's `type`. */
export function parseResponsesSse(text: string): any[] {
  const out: any[] = [];
  for (const block of text.split("\n\n")) {
    if (!block.trim()) continue;
    let name = "", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      if (line.startsWith("event: ")) name = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
      else throw new Error(`unexpected SSE line ${JSON.stringify(line)}`);
    }
    if (!data) continue;
    const e = JSON.parse(data);
    if (name !== e.type) throw new Error(`event: ${name} carries type ${e.type}`);
    out.push(e);
  }
  return out;
}

/** The stream's contract: response.created first, sequence numbers 0, 1, 2…, one terminal event last, items opened before use. */
export function responsesStreamProblems(events: any[]): string[] {
  const p: string[] = [];
  if (events.length === 0) return ["no events"];
  if (events[0].type !== "response.created") p.push(`first event is ${events[0].type}, not response.created`);
  const open = new Map<number, string>();
  const closed = new Set<number>();
  events.forEach((e, i) => {
    if (e.sequence_number !== i) p.push(`event ${i} (${e.type}) has sequence_number ${e.sequence_number}`);
    const terminal = ["response.completed", "response.incomplete", "response.failed"].includes(e.type);
    if (terminal && i !== events.length - 1) p.push(`${e.type} at ${i} is not the last event`);
    if (e.type === "response.output_item.added") {
      if (open.has(e.output_index) || closed.has(e.output_index)) p.push(`output_index ${e.output_index} added twice`);
      if (e.output_index !== open.size + closed.size) p.push(`output_index ${e.output_index} added out of order`);
      open.set(e.output_index, e.item.id);
    } else if (typeof e.output_index === "number") {
      if (!open.has(e.output_index)) p.push(`${e.type} at ${i} for output_index ${e.output_index}, which is not open`);
      else if (e.item_id !== undefined && e.item_id !== open.get(e.output_index)) p.push(`${e.type} at ${i}: item_id ${e.item_id} is not the item at ${e.output_index}`);
      if (e.type === "response.output_item.done") { open.delete(e.output_index); closed.add(e.output_index); }
    }
  });
  const last = events[events.length - 1];
  // An error event ends a stream too (response.failed may follow it).
  if (!["response.completed", "response.incomplete", "response.failed", "error"].includes(last.type)) p.push(`last event is ${last.type}`);
  else if (last.type !== "response.failed" && last.type !== "error" && open.size > 0) p.push(`items ${[...open.keys()].join(",")} never done`);
  return p;
}
