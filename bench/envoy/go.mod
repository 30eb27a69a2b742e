module ai-gateway-wasm/bench/envoy

go 1.22
