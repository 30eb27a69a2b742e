  ;; Failure-policy probe (issue 18 part 3): a request carrying `x-trap` traps (`unreachable`) in
  ;; on_request_headers; every other request is answered by the probe itself with 200 and the
  ;; body "<requests this VM instance answered> <requests answered by all instances>", the second
  ;; kept in shared data (which outlives a VM instance). A fresh VM answers " 1 <n>".
  (global $served (mut i32) (i32.const 0))
  (func (export "proxy_on_context_create") (param $id i32) (param $parent i32))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    (local $total i32)
    (i32.store (global.get $RL) (i32.const 0))
    (if (i32.and (i32.eqz (call $hget (i32.const 0) (str "x-trap"))) (i32.gt_u (call $rl) (i32.const 0)))
      (then unreachable))
    (global.set $served (i32.add (global.get $served) (i32.const 1)))
    ;; The shared total: 4 little-endian bytes under "probe.total".
    (i32.store (global.get $RL) (i32.const 0))
    (if (i32.eqz (call $proxy_get_shared_data (str "probe.total") (global.get $RP) (global.get $RL) (global.get $RX)))
      (then (if (i32.eq (call $rl) (i32.const 4)) (then (local.set $total (i32.load (call $rp)))))))
    (local.set $total (i32.add (local.get $total) (i32.const 1)))
    (i32.store (i32.const 2100) (local.get $total))
    (drop (call $proxy_set_shared_data (str "probe.total") (i32.const 2100) (i32.const 4) (i32.const 0)))
    (call $out_reset)
    (call $out_num (global.get $served))
    (call $out_num (local.get $total))
    (drop (call $proxy_send_local_response (i32.const 200) (str "probe") (i32.const 1024) (i32.sub (global.get $out) (i32.const 1024))
      (i32.const 0) (i32.const 0) (i32.const -1)))
    (i32.const 1))
