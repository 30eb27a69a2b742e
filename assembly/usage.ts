// Token usage of one request, in the units limits and metrics count.

export class Usage {
  input: i64 = 0;
  output: i64 = 0;
  /** Input tokens served from the provider's prompt cache (a subset of input). */
  cachedInput: i64 = 0;
  /** Input tokens written to the provider's prompt cache (a subset of input). */
  cacheWrite: i64 = 0;
  /** Reasoning tokens (a subset of output). */
  reasoning: i64 = 0;
  total: i64 = 0;
  /** Whether the provider reported usage at all. */
  reported: bool = false;
  /** Whether the report is the final one (a stream's opening usage is not: output still grows). */
  final: bool = false;
}
