  ;; Reads or writes one shared-data entry for a test: GET with `x-shared-key: <key>` answers 200
  ;; with the value as the body (404 when absent); POST with that header stores the request body as
  ;; the value (cas 0: unconditionally) and answers it back. Loaded in real Envoy beside the filter
  ;; under test with the same vm_id, it sees the same shared data (process-wide per vm_id, §5.7):
  ;; the Envoy equivalent of the imitation host's `sharedData` for the tests. One request at a time.
  (global $kp (mut i32) (i32.const 0))
  (global $kl (mut i32) (i32.const 0))
  (func $answer
    (if (i32.eqz (call $proxy_get_shared_data (global.get $kp) (global.get $kl) (global.get $RP) (global.get $RL) (global.get $RX)))
      (then (drop (call $proxy_send_local_response (i32.const 200) (i32.const 0) (i32.const 0) (call $rp) (call $rl) (i32.const 0) (i32.const 0) (i32.const -1))))
      (else (drop (call $proxy_send_local_response (i32.const 404) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1))))))
  (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    (if (i32.ne (call $hget (i32.const 0) (str "x-shared-key")) (i32.const 0))
      (then
        (drop (call $proxy_send_local_response (i32.const 400) (i32.const 0) (i32.const 0) (str "x-shared-key missing") (i32.const 0) (i32.const 0) (i32.const -1)))
        (return (i32.const 1))))
    (global.set $kp (call $rp))
    (global.set $kl (call $rl))
    (if (local.get $eos) (then (call $answer)))
    (i32.const 1))
  (func (export "proxy_on_request_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $bget (i32.const 0) (i32.const 0) (local.get $size)))
    (drop (call $proxy_set_shared_data (global.get $kp) (global.get $kl) (call $rp) (call $rl) (i32.const 0)))
    (call $answer)
    (i32.const 1))
