  ;; Reads one shared-data entry for a test: GET with `x-shared-key: <key>` answers 200 with the
  ;; value as the body (404 when absent). Loaded in real Envoy beside the filter under test with
  ;; the same vm_id, it sees the same shared data (shared data is process-wide per vm_id, §5.7):
  ;; the Envoy equivalent of the imitation host's `sharedData` for the tests.
  (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    (local $kp i32) (local $kl i32)
    (if (i32.ne (call $hget (i32.const 0) (str "x-shared-key")) (i32.const 0))
      (then
        (drop (call $proxy_send_local_response (i32.const 400) (i32.const 0) (i32.const 0) (str "x-shared-key missing") (i32.const 0) (i32.const 0) (i32.const -1)))
        (return (i32.const 1))))
    (local.set $kp (call $rp))
    (local.set $kl (call $rl))
    (if (i32.eqz (call $proxy_get_shared_data (local.get $kp) (local.get $kl) (global.get $RP) (global.get $RL) (global.get $RX)))
      (then (drop (call $proxy_send_local_response (i32.const 200) (i32.const 0) (i32.const 0) (call $rp) (call $rl) (i32.const 0) (i32.const 0) (i32.const -1))))
      (else (drop (call $proxy_send_local_response (i32.const 404) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1)))))
    (i32.const 1))
