// Body delivery like Envoy's: one filter callback per socket read event, not one per HTTP/1 chunk
// or per Node 'data' event. Envoy reads a ready socket until it would block (RawBufferSocket::
// doRead) and its codec dispatches everything that read produced as one body frame, so a 70 KB
// request body or a provider's whole burst of SSE events reaches the filter in one call. Node
// emits one 'data' event per parsed HTTP chunk (and per 64 KiB libuv read); the batcher gathers
// those of one I/O turn and delivers them together. Splitting into smaller pieces stays available
// for tests that sweep split points on purpose (GatewayOptions.maxChunkBytes).

export class ReadBatcher {
  private pending: Buffer[] = [];
  private scheduled = false;

  /** `maxChunk`: deliver at most this many bytes per callback (Infinity = as read). */
  constructor(private readonly deliver: (data: Buffer) => void, private readonly maxChunk = Infinity) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Delivers what is pending now (before the end of the body, a reset, or at the end of the I/O turn). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    if (all.length <= this.maxChunk) { this.deliver(all); return; }
    for (let i = 0; i < all.length; i += this.maxChunk) this.deliver(all.subarray(i, i + this.maxChunk));
  }
}
