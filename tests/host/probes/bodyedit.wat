  ;; proxy_set_buffer_bytes rules (reference §3.5) on the request body:
  ;; chunk 1 → StopIterationAndBuffer; chunk 2 (whole buffered body) → mid-buffer edit, prepend, append;
  ;; end of stream → log what the VM sees, replace the whole body, try a read-only buffer.
  (global $n (mut i32) (i32.const 0))
  (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    (i32.const 0))
  (func (export "proxy_on_request_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (call $say2 (str "rqb") (local.get $size) (local.get $eos))
    (if (i32.eq (global.get $n) (i32.const 1)) (then (return (i32.const 1))))
    (if (i32.eqz (local.get $eos))
      (then
        (call $say1 (str "mid") (call $bset (i32.const 0) (i32.const 1) (i32.const 0) (str "X")))
        (call $say1 (str "prepend") (call $bset (i32.const 0) (i32.const 0) (i32.const 0) (str "<")))
        (call $say1 (str "append") (call $bset (i32.const 0) (i32.const -1) (i32.const 0) (str ">")))
        (return (i32.const 1))))
    (drop (call $bget (i32.const 0) (i32.const 0) (local.get $size)))
    (call $sayStr (str "seen") (call $rp) (call $rl))
    (call $say1 (str "replace") (call $bset (i32.const 0) (i32.const 0) (local.get $size) (str "REPLACED")))
    (call $say1 (str "vmconf") (call $bset (i32.const 6) (i32.const 0) (i32.const 0) (str "x")))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    ;; The request body outside its callbacks: status OK with 0 bytes, set → BAD_ARGUMENT (§3.4).
    (i32.store (global.get $RL) (i32.const 99))
    (call $say2 (str "outside_get") (call $proxy_get_buffer_status (i32.const 0) (global.get $RL) (global.get $RX)) (call $rl))
    (call $say1 (str "outside_set") (call $bset (i32.const 0) (i32.const 0) (i32.const 0) (str "y")))
    (i32.const 0))
