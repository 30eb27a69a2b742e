  ;; Recorder probe: logs every callback with its arguments; behaviour from the plugin configuration:
  ;;   byte 0..5  return code digits for request headers / request body / response headers /
  ;;              response body / request trailers / response trailers
  ;;   flags anywhere after byte 5:
  ;;     E  body callbacks return Continue when end_of_stream=1
  ;;     A  log REQUEST_HEADERS availability: "avail <get ':path'> <pairs status> <pairs len> <size status>"
  ;;     R  log the body bytes the VM sees in each body callback ("rqdata"/"rsdata")
  ;;     T  trap (unreachable) in on_request_headers when the request has an "x-trap" header
  ;;     L  send_local_response(403, "nope", x-probe: 1) from on_request_headers, then log "after_local"
  ;;     F  on_configure returns false
  ;;     P  log request properties in on_request_headers, body callbacks and on_log
  ;;     X  call WASI proc_exit(3) in on_request_headers, then log "after_exit" (it returns, §1.3)
  (import "wasi_unstable" "proc_exit" (func $proc_exit (param i32)))
  (global $sid (mut i32) (i32.const 0))

  (func (export "proxy_on_context_create") (param $id i32) (param $parent i32)
    (call $say2 (str "create") (local.get $id) (local.get $parent)))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $say1 (str "vm_start") (local.get $size)) (i32.const 1))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (call $load_config (local.get $size))
    (call $say1 (str "configure") (local.get $size))
    (i32.eqz (call $has (i32.const 70))))

  (func $avail
    (local $g i32) (local $p i32) (local $pl i32) (local $s i32)
    (local.set $g (call $hget (i32.const 0) (str ":path")))
    (local.set $p (call $proxy_get_header_map_pairs (i32.const 0) (global.get $RP) (global.get $RL)))
    (local.set $pl (call $rl))
    (local.set $s (call $proxy_get_header_map_size (i32.const 0) (global.get $RX)))
    (call $say5 (str "avail") (local.get $g) (local.get $p) (local.get $pl) (local.get $s) (i32.const 0)))

  (func $props (param $tp i32) (param $tl i32)
    (local $st i32)
    (local.set $st (call $proxy_get_property (str "request\00path") (global.get $RP) (global.get $RL)))
    (if (i32.eqz (local.get $st))
      (then (call $sayStr (local.get $tp) (local.get $tl) (call $rp) (call $rl)))
      (else (call $say1 (local.get $tp) (local.get $tl) (local.get $st)))))

  (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    (global.set $sid (local.get $id))
    (call $say3 (str "rqh") (local.get $id) (local.get $n) (local.get $eos))
    (if (call $has (i32.const 65)) (then (call $avail)))
    (if (call $has (i32.const 80)) (then (call $props (str "prop_path"))))
    (if (call $has (i32.const 88)) (then (call $proc_exit (i32.const 3)) (call $say0 (str "after_exit"))))
    (if (i32.and (call $has (i32.const 84)) (i32.eqz (call $hget (i32.const 0) (str "x-trap"))))
      (then (unreachable)))
    (if (call $has (i32.const 76))
      (then
        (call $say1 (str "local_status")
          (call $proxy_send_local_response (i32.const 403) (str "denied by probe") (str "nope")
            (str "\01\00\00\00\07\00\00\00\01\00\00\00x-probe\001\00") (i32.const -1)))
        ;; Still inside the callback: the reply is deferred, so request headers are readable.
        (call $say1 (str "after_local") (call $hget (i32.const 0) (str ":path")))))
    (call $cfgd (i32.const 0)))

  (func $body (param $type i32) (param $tp i32) (param $tl i32) (param $dp i32) (param $dl i32)
                (param $id i32) (param $size i32) (param $eos i32) (param $code i32) (result i32)
    (call $say3 (local.get $tp) (local.get $tl) (local.get $id) (local.get $size) (local.get $eos))
    (if (call $has (i32.const 65)) (then (call $avail)))
    (if (call $has (i32.const 80)) (then (call $props (str "body_path"))))
    (if (call $has (i32.const 82))
      (then
        (drop (call $bget (local.get $type) (i32.const 0) (local.get $size)))
        (call $sayStr (local.get $dp) (local.get $dl) (call $rp) (call $rl))))
    (if (i32.and (local.get $eos) (call $has (i32.const 69))) (then (return (i32.const 0))))
    (local.get $code))

  (func (export "proxy_on_request_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
    (call $body (i32.const 0) (str "rqb") (str "rqdata") (local.get $id) (local.get $size) (local.get $eos) (call $cfgd (i32.const 1))))
  (func (export "proxy_on_request_trailers") (param $id i32) (param $n i32) (result i32)
    (call $say2 (str "rqt") (local.get $id) (local.get $n))
    (call $cfgd (i32.const 4)))
  (func (export "proxy_on_response_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    (call $say3 (str "rsh") (local.get $id) (local.get $n) (local.get $eos))
    (if (call $has (i32.const 65)) (then (call $avail)))
    (call $cfgd (i32.const 2)))
  (func (export "proxy_on_response_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
    (call $body (i32.const 1) (str "rsb") (str "rsdata") (local.get $id) (local.get $size) (local.get $eos) (call $cfgd (i32.const 3))))
  (func (export "proxy_on_response_trailers") (param $id i32) (param $n i32) (result i32)
    (call $say2 (str "rst") (local.get $id) (local.get $n))
    (call $cfgd (i32.const 5)))
  (func (export "proxy_on_log") (param $id i32)
    (call $say1 (str "log") (local.get $id))
    (if (call $has (i32.const 80)) (then (call $props (str "log_path"))))
    (if (call $has (i32.const 65)) (then (call $avail))))
  (func (export "proxy_on_done") (param $id i32) (result i32)
    (call $say1 (str "done") (local.get $id)) (i32.const 1))
  (func (export "proxy_on_delete") (param $id i32)
    (call $say1 (str "delete") (local.get $id)))
