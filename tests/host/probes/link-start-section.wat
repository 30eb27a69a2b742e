;; A Wasm start section calling a hostcall: it runs inside link() with no current context
;; (reference §1.1; Envoy would dereference a null context).
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi")
  (func $start (drop (call $log (i32.const 2) (i32.const 16) (i32.const 2))))
  (start $start)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1")))
