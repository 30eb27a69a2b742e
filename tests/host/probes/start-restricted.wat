  ;; _initialize makes a hostcall outside the start allow-list (reference §1.1): restricted_callback trap.
  (func (export "_initialize")
    (drop (call $proxy_get_property (str "plugin_name") (global.get $RP) (global.get $RL))))
