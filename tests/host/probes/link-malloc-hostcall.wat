;; malloc itself makes a hostcall outside the malloc allow-list (reference §1.1): the VM fails when
;; the host allocates a return buffer, e.g. for proxy_get_header_map_value.
(module
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_hdr (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) ":path")
  (data (i32.const 32) "plugin_name")
  (data (i32.const 48) "after")
  (func (export "malloc") (param i32) (result i32)
    (drop (call $get_property (i32.const 32) (i32.const 11) (i32.const 64) (i32.const 68)))
    (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ;; The returned status would be INVALID_MEMORY_ACCESS; the VM is failed either way.
    (drop (call $get_hdr (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 72) (i32.const 76)))
    (drop (call $log (i32.const 2) (i32.const 48) (i32.const 5)))
    (i32.const 0)))
