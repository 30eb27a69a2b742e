  ;; Route-cache clearing (reference §3.9): headers StopIteration (allow_on_headers_stop_iteration),
  ;; buffer the body, then copy the body into request header x-pick — modifying request headers clears
  ;; the route cache for ABI 0.2.1, so the router re-picks the route with the new header.
  (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    (i32.const 1))
  (func (export "proxy_on_request_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $bget (i32.const 0) (i32.const 0) (local.get $size)))
    (call $say1 (str "set_pick") (call $hset (i32.const 0) (str "x-pick") (call $rp) (call $rl)))
    (i32.const 0))
