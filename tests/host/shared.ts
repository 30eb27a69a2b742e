// Shared data and shared queues (sources: proxy-wasm C++ host: shared data, cpp-host `src/shared_data.cc`,
// `src/shared_queue.cc`). Both are PROCESS-WIDE and keyed by vm_id string, exactly like cpp-host's
// global singletons: every VM with the same vm_id (all workers, the canary, the base VM, other
// gateways in this process) sees the same entries. An entry set is deleted when the last VM with
// that vm_id goes away (cpp-host `registerVmIdHandleCallback`), which also gives test isolation as
// long as gateways are stopped.

import { Status } from "./constants.ts";

export interface SharedEntry { value: Uint8Array; cas: number }

/** Test-facing view of one vm_id's shared data (Gateway.sharedData). */
export interface SharedData {
  get(key: string): SharedEntry | undefined;
  /** Same rules as proxy_set_shared_data: cas 0 = unconditional. Returns a proxy_status_t. */
  set(key: string, value: Uint8Array | string, cas?: number): number;
  keys(): string[];
}

class SharedDataStore {
  private data = new Map<string, Map<string, SharedEntry>>();
  // sources: proxy-wasm C++ host: shared data: one CAS counter for the whole process, starting at 1, skipping 0.
  private casCounter = 1;

  private nextCas(): number {
    const c = this.casCounter;
    this.casCounter = (this.casCounter + 1) >>> 0;
    if (this.casCounter === 0) this.casCounter = 1;
    return c;
  }

  get(vmId: string, key: string): SharedEntry | undefined {
    return this.data.get(vmId)?.get(key);
  }

  /** sources: proxy-wasm C++ host: shared data: cas 0 = unconditional; non-zero cas ≠ stored → CAS_MISMATCH; missing key → created. */
  set(vmId: string, key: string, value: Uint8Array, cas: number): number {
    let map = this.data.get(vmId);
    if (!map) this.data.set(vmId, (map = new Map()));
    const cur = map.get(key);
    if (cur && cas !== 0 && cas !== cur.cas) return Status.CasMismatch;
    map.set(key, { value: Uint8Array.from(value), cas: this.nextCas() });
    return Status.Ok;
  }

  keys(vmId: string): string[] {
    return [...(this.data.get(vmId)?.keys() ?? [])];
  }

  deleteVmId(vmId: string): void {
    this.data.delete(vmId);
  }
}

/** Where a queue's "ready" notification goes: the last registrant (sources: proxy-wasm C++ host: shared data re-binding). */
export interface QueueTarget {
  /** Post (asynchronously) proxy_on_queue_ready(root_id, token) to the registrant's VM. */
  notify(token: number): void;
}

class SharedQueueStore {
  private tokens = new Map<string, number>();
  private queues = new Map<number, { vmId: string; items: Uint8Array[]; target: QueueTarget }>();
  private nextToken = 1;

  register(vmId: string, name: string, target: QueueTarget): number {
    const key = `${vmId}\0${name}`;
    let token = this.tokens.get(key);
    if (token === undefined) {
      token = this.nextToken++;
      if (this.nextToken === 0) this.nextToken = 1;
      this.tokens.set(key, token);
      this.queues.set(token, { vmId, items: [], target });
    } else {
      // sources: proxy-wasm C++ host: shared data: same name → same token, delivery re-bound to the last registrant; data preserved.
      this.queues.get(token)!.target = target;
    }
    return token;
  }

  resolve(vmId: string, name: string): number {
    return this.tokens.get(`${vmId}\0${name}`) ?? 0;
  }

  enqueue(token: number, value: Uint8Array): number {
    const q = this.queues.get(token);
    if (!q) return Status.NotFound;
    q.items.push(Uint8Array.from(value));
    q.target.notify(token);
    return Status.Ok;
  }

  dequeue(token: number): Uint8Array | number {
    const q = this.queues.get(token);
    if (!q) return Status.NotFound;
    const v = q.items.shift();
    return v ?? Status.Empty;
  }

  deleteVmId(vmId: string): void {
    for (const [key, token] of this.tokens) {
      if (key.startsWith(`${vmId}\0`)) {
        this.tokens.delete(key);
        this.queues.delete(token);
      }
    }
  }
}

export const sharedDataStore = new SharedDataStore();
export const sharedQueueStore = new SharedQueueStore();

const vmIdRefs = new Map<string, number>();

/** Called when a VM with this vm_id is created. */
export function acquireVmId(vmId: string): void {
  vmIdRefs.set(vmId, (vmIdRefs.get(vmId) ?? 0) + 1);
}

/** Called when a VM is destroyed; the last one deletes the vm_id's shared data and queues. */
export function releaseVmId(vmId: string): void {
  const n = (vmIdRefs.get(vmId) ?? 0) - 1;
  if (n > 0) {
    vmIdRefs.set(vmId, n);
    return;
  }
  vmIdRefs.delete(vmId);
  sharedDataStore.deleteVmId(vmId);
  sharedQueueStore.deleteVmId(vmId);
}

export function sharedDataView(vmId: string): SharedData {
  return {
    get: (key) => sharedDataStore.get(vmId, key),
    set: (key, value, cas = 0) =>
      sharedDataStore.set(vmId, key, typeof value === "string" ? Buffer.from(value) : value, cas),
    keys: () => sharedDataStore.keys(vmId),
  };
}
