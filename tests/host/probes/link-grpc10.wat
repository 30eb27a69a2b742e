;; proxy-runtime's 10-parameter proxy_grpc_call; Envoy registers 12 parameters (reference §2, §1.2).
(module
  (import "env" "proxy_grpc_call" (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1")))
