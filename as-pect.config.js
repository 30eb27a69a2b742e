// as-pect runs the AssemblyScript unit tests of the pure modules (JSON, SSE, config, routing,
// providers): no proxy-wasm host involved, which is the point of keeping them pure.
export default {
  entries: ["tests/unit/**/*.spec.ts"],
  include: ["tests/unit/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
