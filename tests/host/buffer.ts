// A body buffer modelled on Envoy `Buffer::OwnedImpl` as far as the filter can observe it:
// chunks are appended/moved without copying; reads linearize lazily.

export class BodyBuffer {
  private chunks: Uint8Array[] = [];
  length = 0;

  constructor(data?: Uint8Array) {
    if (data && data.length) this.add(data);
  }

  add(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.length += data.length;
  }

  prepend(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.unshift(data);
    this.length += data.length;
  }

  /** Remove up to `n` bytes from the front (Envoy drain() stops when the buffer is empty). */
  drain(n: number): void {
    if (n >= this.length) {
      this.chunks = [];
      this.length = 0;
      return;
    }
    let left = n;
    while (left > 0) {
      const c = this.chunks[0];
      if (c.length <= left) {
        this.chunks.shift();
        left -= c.length;
      } else {
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.length -= n;
  }

  /** Move all of `other` to the end of this buffer, leaving `other` empty (Buffer::move). */
  move(other: BodyBuffer): void {
    if (other === this || other.length === 0) return;
    for (const c of other.chunks) this.chunks.push(c);
    this.length += other.length;
    other.chunks = [];
    other.length = 0;
  }

  toBytes(): Uint8Array {
    if (this.chunks.length === 0) return EMPTY;
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0];
  }

  copyOut(start: number, len: number): Uint8Array {
    return this.toBytes().subarray(start, start + len);
  }

  toString(): string {
    return Buffer.from(this.toBytes()).toString("utf8");
  }
}

export const EMPTY = new Uint8Array(0);
