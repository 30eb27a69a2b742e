;; No proxy_abi_version_* marker export (reference §1.1).
(module
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024)))
