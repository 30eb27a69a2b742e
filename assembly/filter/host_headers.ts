// The stages' HeaderMap (pipeline/headers.ts) over the host's request and response header maps.

import { stream_context } from "@solo-io/proxy-runtime/assembly";
import { HeaderMap } from "../pipeline/headers";


export class HostRequestHeaders extends HeaderMap {
  get(name: string): string { return stream_context.headers.request.get(name); }
  replace(name: string, value: string): void { stream_context.headers.request.replace(name, value); }
  remove(name: string): void { stream_context.headers.request.remove(name); }
  pairs(): string[] {
    const p = stream_context.headers.request.get_headers();
    const out = new Array<string>(p.length << 1);
    for (let i = 0; i < p.length; i++) { out[i << 1] = String.UTF8.decode(p[i].key); out[(i << 1) + 1] = String.UTF8.decode(p[i].value); }
    return out;
  }
}

export class HostResponseHeaders extends HeaderMap {
  get(name: string): string { return stream_context.headers.response.get(name); }
  replace(name: string, value: string): void { stream_context.headers.response.replace(name, value); }
  remove(name: string): void { stream_context.headers.response.remove(name); }
  pairs(): string[] {
    const p = stream_context.headers.response.get_headers();
    const out = new Array<string>(p.length << 1);
    for (let i = 0; i < p.length; i++) { out[i << 1] = String.UTF8.decode(p[i].key); out[(i << 1) + 1] = String.UTF8.decode(p[i].value); }
    return out;
  }
}
