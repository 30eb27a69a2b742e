;; Imported globals are not supported by cpp-host's V8 link() (reference §1.1).
(module
  (import "env" "__stack_base" (global i32))
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1")))
