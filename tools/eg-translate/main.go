// eg-translate runs Envoy Gateway's own translation on Kubernetes manifests, the way the Envoy
// Gateway controller does, without Kubernetes and without its servers:
//
//	manifests (stdin) → resource loader → Gateway API translator → xDS translator
//	  (EnvoyPatchPolicy JSON patches included) → JSON on stdout
//
// Why not `egctl x translate`: egctl builds its Gateway API translator without a Wasm cache, so
// every EnvoyExtensionPolicy with a Wasm filter fails ("wasm cache is not initialized") and the
// route is replaced by a 500. Here the translator gets Envoy Gateway's real Wasm cache
// (internal/wasm: it downloads code.http.url, checks code.http.sha256, and names the serving URL
// Envoy will fetch), without starting its HTTP server (fixed port 18002). Everything else is the
// code the controller runs, at the version pinned in go.mod.
//
// The module path of this tool starts with github.com/envoyproxy/gateway/ only because Go lets a
// package import .../internal/... packages of Envoy Gateway only from below that path; the tool
// lives in this repository and is built by scripts/install-eg-translate.sh.
//
// Usage: eg-translate -version (prints the Envoy Gateway module version built in)
//
//	eg-translate [-controller-namespace envoy-gateway-system] [-wasm-cache-dir DIR] < manifests.yaml
//
// Output (JSON): envoyGateway (version), statuses (every translated object's status, as the
// controller would write it), envoyProxyErrors, patchStatuses (EnvoyPatchPolicy statuses from the
// xDS stage), wasm (each module's serving URL and sha256), bootstrap (the rendered bootstrap with
// the EnvoyProxy's bootstrap merged), xds (per gateway: listeners, routes, clusters, endpoints,
// secrets in Envoy's JSON form).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	"github.com/envoyproxy/gateway/api/v1alpha1/validation"
	"github.com/envoyproxy/gateway/internal/gatewayapi"
	"github.com/envoyproxy/gateway/internal/gatewayapi/resource"
	"github.com/envoyproxy/gateway/internal/logging"
	"github.com/envoyproxy/gateway/internal/wasm"
	"github.com/envoyproxy/gateway/internal/xds/bootstrap"
	"github.com/envoyproxy/gateway/internal/xds/translator"
)

type objectStatus struct {
	Kind      string          `json:"kind"`
	Namespace string          `json:"namespace,omitempty"`
	Name      string          `json:"name"`
	Status    json.RawMessage `json:"status"`
}

type wasmModule struct {
	Policy      string `json:"policy"`
	OriginalURL string `json:"originalUrl"`
	ServingURL  string `json:"servingUrl"`
	SHA256      string `json:"sha256"`
}

type output struct {
	EnvoyGateway     string                    `json:"envoyGateway"`
	Statuses         []objectStatus            `json:"statuses"`
	EnvoyProxyErrors []string                  `json:"envoyProxyErrors"`
	PatchStatuses    []json.RawMessage         `json:"patchStatuses"`
	Wasm             []wasmModule              `json:"wasm"`
	Bootstrap        json.RawMessage           `json:"bootstrap"`
	Xds              map[string]map[string]any `json:"xds"`
}

// recordingCache is Envoy Gateway's Wasm cache, remembering what it served for the output.
type recordingCache struct {
	wasm.Cache
	seen []wasmModule
}

func (c *recordingCache) Get(url string, opts *wasm.GetOptions) (string, string, error) {
	serving, sum, err := c.Cache.Get(url, opts)
	if err == nil {
		c.seen = append(c.seen, wasmModule{Policy: opts.ResourceName, OriginalURL: url, ServingURL: serving, SHA256: sum})
	}
	return serving, sum, err
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "eg-translate: "+format+"\n", args...)
	os.Exit(1)
}

func egVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/envoyproxy/gateway" {
				return d.Version
			}
		}
	}
	return "unknown"
}

func status(kind, ns, name string, obj any) objectStatus {
	b, err := json.Marshal(obj)
	if err != nil {
		fail("marshal %s %s/%s: %v", kind, ns, name, err)
	}
	var o struct {
		Status json.RawMessage `json:"status"`
	}
	_ = json.Unmarshal(b, &o)
	return objectStatus{Kind: kind, Namespace: ns, Name: name, Status: o.Status}
}

func protoJSON(m proto.Message) any {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		fail("marshal xDS resource: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		fail("re-read xDS resource: %v", err)
	}
	return v
}

func main() {
	controllerNamespace := flag.String("controller-namespace", "envoy-gateway-system", "namespace Envoy Gateway runs in (names its Wasm server)")
	cacheDir := flag.String("wasm-cache-dir", "", "directory for Envoy Gateway's Wasm cache (default: a temporary directory)")
	version := flag.Bool("version", false, "print the Envoy Gateway version this tool is built against and exit")
	flag.Parse()
	if *version {
		fmt.Println(egVersion())
		return
	}

	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("read stdin: %v", err)
	}
	// The controller's loader; addMissingResources: the Namespaces a cluster would have.
	resources, err := resource.LoadResourcesFromYAMLBytes(in, true, nil)
	if err != nil {
		fail("load manifests: %v", err)
	}
	if resources.GatewayClass == nil {
		fail("no GatewayClass in the manifests")
	}

	dir := *cacheDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "eg-wasm-cache-"); err != nil {
			fail("%v", err)
		}
		defer os.RemoveAll(dir)
	}
	logger := logging.DefaultLogger(os.Stderr, egv1a1.LogLevelWarn)
	// A TLS config as the controller always has one (its envoy-gateway certificate): the serving
	// URLs are https, as Envoy fetches them from a real controller. The server is never started.
	cache := &recordingCache{Cache: wasm.NewHTTPServerWithFileCache(wasm.ServerOptions{Salt: []byte("ai-gateway-wasm"), TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}},
		wasm.CacheOptions{CacheDir: dir}, *controllerNamespace, logger)}

	// As the controller's Gateway API runner builds it, with both extension APIs the manifests
	// need enabled (config.envoyGateway.extensionApis.enableBackend / enableEnvoyPatchPolicy).
	gt := &gatewayapi.Translator{
		GatewayControllerName:   string(resources.GatewayClass.Spec.ControllerName),
		GatewayClassName:        gwapiv1.ObjectName(resources.GatewayClass.Name),
		EnvoyPatchPolicyEnabled: true,
		BackendEnabled:          true,
		ControllerNamespace:     *controllerNamespace,
		MergeGateways:           gatewayapi.IsMergeGatewaysEnabled(resources),
		WasmCache:               cache,
		Logger:                  logger,
	}
	res, err := gt.Translate(context.Background(), resources)
	if err != nil {
		// The controller logs this and still writes statuses and xDS: so do we; the statuses tell.
		fmt.Fprintf(os.Stderr, "eg-translate: Gateway API translation reported: %v\n", err)
	}

	out := output{EnvoyGateway: egVersion(), Xds: map[string]map[string]any{}, EnvoyProxyErrors: []string{}, PatchStatuses: []json.RawMessage{}, Wasm: []wasmModule{}}
	for _, g := range res.Gateways {
		out.Statuses = append(out.Statuses, status("Gateway", g.Namespace, g.Name, g))
	}
	for _, r := range res.HTTPRoutes {
		out.Statuses = append(out.Statuses, status("HTTPRoute", r.Namespace, r.Name, r))
	}
	for _, b := range res.Backends {
		out.Statuses = append(out.Statuses, status("Backend", b.Namespace, b.Name, b))
	}
	for _, p := range res.BackendTLSPolicies {
		out.Statuses = append(out.Statuses, status("BackendTLSPolicy", p.Namespace, p.Name, p))
	}
	for _, p := range res.EnvoyExtensionPolicies {
		out.Statuses = append(out.Statuses, status("EnvoyExtensionPolicy", p.Namespace, p.Name, p))
	}
	for _, p := range res.EnvoyPatchPolicies {
		out.Statuses = append(out.Statuses, status("EnvoyPatchPolicy", p.Namespace, p.Name, p))
	}
	out.Wasm = append(out.Wasm, cache.seen...)

	// The GatewayClass parameters, checked as the controller checks them before accepting the class.
	var proxyBootstrap *egv1a1.ProxyBootstrap
	if ep := resources.EnvoyProxyForGatewayClass; ep != nil {
		if err := validation.ValidateEnvoyProxy(ep); err != nil {
			out.EnvoyProxyErrors = append(out.EnvoyProxyErrors, err.Error())
		}
		if err := bootstrap.Validate(ep.Spec.Bootstrap); err != nil {
			out.EnvoyProxyErrors = append(out.EnvoyProxyErrors, err.Error())
		}
		proxyBootstrap = ep.Spec.Bootstrap
	}
	rendered, err := bootstrap.GetRenderedBootstrapConfig(nil)
	if err != nil {
		fail("render bootstrap: %v", err)
	}
	if proxyBootstrap != nil {
		if rendered, err = bootstrap.ApplyBootstrapConfig(proxyBootstrap, rendered); err != nil {
			fail("apply the EnvoyProxy bootstrap: %v", err)
		}
	}
	if out.Bootstrap, err = yaml.YAMLToJSON([]byte(rendered)); err != nil {
		fail("bootstrap to JSON: %v", err)
	}

	keys := make([]string, 0, len(res.XdsIR))
	for k := range res.XdsIR {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		ir := res.XdsIR[key]
		xt := &translator.Translator{ControllerNamespace: *controllerNamespace, FilterOrder: ir.FilterOrder, Logger: logger}
		tables, err := xt.Translate(context.Background(), ir)
		if err != nil {
			// Patch errors land here and in the patch statuses, as in the controller.
			fmt.Fprintf(os.Stderr, "eg-translate: xDS translation of %s reported: %v\n", key, err)
		}
		if tables == nil {
			fail("xDS translation of %s produced nothing", key)
		}
		for _, s := range tables.EnvoyPatchPolicyStatuses {
			b, _ := json.Marshal(s)
			out.PatchStatuses = append(out.PatchStatuses, b)
		}
		byType := map[string]any{}
		for name, typeURL := range map[string]string{
			"listeners": resourcev3.ListenerType, "routes": resourcev3.RouteType, "clusters": resourcev3.ClusterType,
			"endpoints": resourcev3.EndpointType, "secrets": resourcev3.SecretType,
		} {
			list := []any{}
			for _, r := range tables.XdsResources[typeURL] {
				list = append(list, protoJSON(r))
			}
			byType[name] = list
		}
		out.Xds[key] = byType
	}

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fail("write output: %v", err)
	}
}
