  ;; Shared data CAS (reference §5.7): get in on_request_headers (remember cas), set with that cas in
  ;; on_request_body.
  (global $cas (mut i32) (i32.const 0))
  (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    (local $st i32)
    (i32.store (global.get $RX) (i32.const 0))
    (i32.store (global.get $RL) (i32.const 0))
    (local.set $st (call $proxy_get_shared_data (str "k") (global.get $RP) (global.get $RL) (global.get $RX)))
    (global.set $cas (call $rx))
    (call $say3 (str "get") (local.get $st) (call $rx) (call $rl))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
    (call $say1 (str "set") (call $proxy_set_shared_data (str "k") (str "from-vm") (global.get $cas)))
    (i32.const 0))
