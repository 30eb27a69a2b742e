;; proxy_get_log_level is only registered for ABI 0.2.1 modules (reference §1.2).
(module
  (import "env" "proxy_get_log_level" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_0")))
