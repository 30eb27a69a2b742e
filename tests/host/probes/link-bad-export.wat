;; An ABI 0.1.0-shaped proxy_on_request_headers (2 params) in a 0.2.1 module (reference §1.1, §1.4).
(module
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_request_headers") (param i32 i32) (result i32) (i32.const 0)))
