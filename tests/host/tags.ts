// Envoy's stat tag extraction (bootstrap `stats_config.stats_tags`), as Envoy does it:
// source/common/stats/tag_producer_impl.cc (TagProducerImpl) and tag_extractor_impl.cc
// (TagExtractorStdRegexImpl, TagExtractorRe2Impl, TagExtractorTokensImpl, TagExtractorFixedImpl),
// default extractors from source/common/config/well_known_names.cc.
//
// - Every extractor looks at the FULL stat name (e.g. "wasmcustom.ai_gateway.requests;…"); the
//   characters of each match's first capture group are collected and removed at the end, so
//   extractors never see each other's removals.
// - Tag value = second capture group if the regex has one (std::regex: match.size() > 2, an
//   unmatched group gives ""), else the first.
// - Regexes from `stats_tags` are std::regex (ECMAScript) searched anywhere in the name
//   (regex_search); the built-in ones are RE2 PartialMatch. JavaScript RegExp search has the same
//   semantics for the constructs used here.
// - A regex starting with `^<word>\.` only runs on names whose first token is <word> (Envoy's
//   prefix map); extractors without such a prefix run on every name, and run first.
// - Two extractors with the same tag name: the first that matches wins.
// - Prometheus (source/server/admin/prometheus_stats.cc): the tag-extracted name loses the
//   registered custom namespace `wasmcustom.` (no `envoy_` prefix), other names get `envoy_`;
//   characters outside [a-zA-Z0-9_] become `_`; tag names are sanitized the same way; label values
//   escape `\`, `"` and newline.

export interface TagSpecifier { tag_name: string; regex?: string; fixed_value?: string }
export interface Tag { name: string; value: string }

interface Extractor {
  name: string;
  prefix: string;
  substr: string;
  negativeMatch?: string;
  /** The value and the [start, end) characters to remove, or null. */
  extract(statName: string, tokens: () => string[]): { value: string; start: number; end: number } | null;
  otherWithSameName?: boolean;
}

/** Envoy TagExtractorImplBase::extractRegexPrefix: `^abc_1\.` → "abc_1"; `^abc$` → "abc". */
export function extractRegexPrefix(regex: string): string {
  if (!regex.startsWith("^")) return "";
  for (let i = 1; i < regex.length; i++) {
    const c = regex[i];
    if (!/[A-Za-z0-9_]/.test(c)) {
      if (i > 1) {
        const last = i === regex.length - 1;
        const rest = regex.slice(i);
        if ((!last && (rest.startsWith("\\.") || rest.startsWith("(?=\\."))) || (last && c === "$")) return regex.slice(1, i);
      }
      break;
    }
  }
  return "";
}

function regexExtractor(name: string, regex: string, substr = "", negativeMatch?: string): Extractor {
  const re = new RegExp(regex, "d");
  const groups = new RegExp(`${regex}|`).exec("")!.length - 1; // number of capture groups
  return {
    name, prefix: extractRegexPrefix(regex), substr, negativeMatch,
    extract(statName) {
      if (substr && !statName.includes(substr)) return null;
      const m = re.exec(statName);
      if (!m || groups < 1 || m.indices![1] === undefined) return null;
      const [start, end] = m.indices![1]!;
      const value = groups >= 2 ? (m[2] ?? "") : m[1];
      if (negativeMatch !== undefined && value === negativeMatch) return null;
      return { value, start, end };
    },
  };
}

/** TagExtractorTokensImpl: dot-separated pattern, `$` = the value, `*` one token, `**` any. */
function tokensExtractor(name: string, pattern: string): Extractor {
  const pat = pattern.split(".");
  const matchIndex = pat.indexOf("$");
  const first = pat[0];
  const search = (input: string[], ii: number, pi: number, ci: number, out: { start: number; index: number }): boolean => {
    for (; ii < input.length && pi < pat.length; ii++, pi++) {
      if (pi === matchIndex) { out.start = ci; out.index = ii; }
      else {
        const expected = pat[pi];
        if (expected === "**") {
          if (pi === pat.length - 1) return true;
          pi++;
          for (; ii < input.length; ii++) {
            if (search(input, ii, pi, ci, out)) return true;
            ci += input[ii].length + 1;
          }
          return false;
        }
        if (expected !== "*" && expected !== input[ii]) return false;
      }
      ci += input[ii].length + 1;
    }
    return pi === pat.length && ii === input.length;
  };
  return {
    name, prefix: first !== "$" && first !== "*" && first !== "**" ? first : "", substr: "",
    extract(_statName, tokens) {
      const input = tokens();
      const out = { start: 0, index: input.length };
      if (!search(input, 0, 0, 0, out) || out.index >= input.length) return null;
      const value = input[out.index];
      let start = out.start, end = start + value.length;
      if (out.index < input.length - 1) end++;
      else if (start > 0) start--;
      return { value, start, end };
    },
  };
}

/**
 * Envoy's default extractors that can run on a name whose first token is not one of their
 * prefixes: the end-anchored response code ones, the worker id one (anchored at listener/server/
 * listener_manager), and the tokenized local rate limit one whose first token is `$`. Every other
 * default extractor is bound to a first token (http, cluster, listener, vhost, mongo, tcp, udp,
 * auth, ratelimit, thrift, redis, local_rate_limit, listener_local_ratelimit, dns_filter) and so
 * never runs on `wasmcustom.` names; they are not reproduced here.
 */
export function defaultExtractors(): Extractor[] {
  return [
    regexExtractor("envoy.response_code", "_rq(_(\\d{3}))$", "_rq_"),
    regexExtractor("envoy.response_code_class", "_rq_((\\d))xx$", "_rq_"),
    regexExtractor("envoy.worker_id", "^(?:listener\\.[^.]+\\.|server\\.|listener_manager\\.)worker_((\\d+)\\.)"),
    tokensExtractor("envoy.local_http_ratelimit_prefix", "$.http_local_rate_limit.**"),
  ];
}

export class TagProducer {
  private readonly withoutPrefix: Extractor[] = [];
  private readonly byPrefix = new Map<string, Extractor[]>();
  private readonly fixed: Tag[] = [];

  constructor(specs: TagSpecifier[], opts: { useAllDefaultTags?: boolean } = {}) {
    if (opts.useAllDefaultTags ?? true) for (const e of defaultExtractors()) this.add(e);
    for (const s of specs) {
      if (!s.tag_name) throw new Error("tag_name cannot be empty");
      if (s.fixed_value !== undefined) { this.fixed.push({ name: s.tag_name, value: s.fixed_value }); continue; }
      if (!s.regex) throw new Error(`No regex specified for tag specifier and no default regex for name: '${s.tag_name}'`);
      this.add(regexExtractor(s.tag_name, s.regex));
    }
  }

  private all(): Extractor[] { return [...this.withoutPrefix, ...[...this.byPrefix.values()].flat()]; }

  private add(e: Extractor): void {
    const same = this.all().filter((x) => x.name === e.name);
    if (same.length) { e.otherWithSameName = true; for (const x of same) x.otherWithSameName = true; }
    if (!e.prefix) this.withoutPrefix.push(e);
    else this.byPrefix.set(e.prefix, [...(this.byPrefix.get(e.prefix) ?? []), e]);
  }

  /** TagProducerImpl::produceTags: the tag-extracted name and the tags, in extraction order. */
  produceTags(name: string): { extractedName: string; tags: Tag[] } {
    const tags: Tag[] = [...this.fixed];
    const remove: [number, number][] = [];
    let tokens: string[] | undefined;
    const tok = () => (tokens ??= name.split("."));
    const done = new Set<string>();
    const run = (e: Extractor) => {
      if (e.otherWithSameName && done.has(e.name)) return;
      const r = e.extract(name, tok);
      if (!r) return;
      tags.push({ name: e.name, value: r.value });
      remove.push([r.start, r.end]);
      if (e.otherWithSameName) done.add(e.name);
    };
    for (const e of this.withoutPrefix) run(e);
    const dot = name.indexOf(".");
    if (dot >= 0) for (const e of this.byPrefix.get(name.slice(0, dot)) ?? []) run(e);
    let out = "";
    for (let i = 0; i < name.length; i++) if (!remove.some(([s, e]) => i >= s && i < e)) out += name[i];
    return { extractedName: out, tags };
  }
}

/** Prometheus label set as Envoy formats it (PrometheusStatsFormatter::formattedTags). */
export function formatTags(tags: Tag[]): string {
  return tags.map((t) => `${sanitizePrometheusName(t.name)}="${t.value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")}"`).join(",");
}

export function sanitizePrometheusName(s: string): string {
  const n = s.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[0-9]/.test(n) ? `_${n}` : n;
}

/**
 * Which constructs of a regex RE2 does not support: lookahead/lookbehind, backreferences,
 * possessive quantifiers, atomic groups, conditionals. Returns the offending constructs.
 */
export function re2Incompatibilities(regex: string): string[] {
  const bad: string[] = [];
  if (/\(\?[=!]/.test(regex)) bad.push("lookahead");
  if (/\(\?<[=!]/.test(regex)) bad.push("lookbehind");
  if (/\\[1-9]/.test(regex) || /\\k</.test(regex)) bad.push("backreference");
  if (/[*+?}]\+/.test(regex)) bad.push("possessive quantifier");
  if (/\(\?>/.test(regex)) bad.push("atomic group");
  if (/\(\?\(/.test(regex)) bad.push("conditional");
  return bad;
}
