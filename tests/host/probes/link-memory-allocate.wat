;; Only proxy_on_memory_allocate: accepted as the allocator when malloc is absent (reference §1.1).
(module
  (memory (export "memory") 1)
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1")))
