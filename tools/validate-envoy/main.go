// validate-envoy checks Envoy bootstrap configuration files (YAML or JSON) against Envoy's own
// API types, as close to what `envoy --mode validate` does as possible without an Envoy binary:
//
//  1. YAML is converted to JSON while remembering where every value came from (line:column), so
//     every error below points at the YAML line that caused it.
//  2. The JSON is unmarshalled into envoy.config.bootstrap.v3.Bootstrap with protojson in strict
//     mode: unknown fields, wrong types, unknown enum names and unresolvable `typed_config` Any
//     types are errors (Envoy's own YAML loader is strict in the same way).
//  3. protoc-gen-validate rules (`ValidateAll`) run on the bootstrap and, because PGV does not look
//     inside google.protobuf.Any, again on the message packed in every Any (typed_config,
//     typed_extension_protocol_options, ...), recursively, as Envoy's MessageUtil does.
//  4. Fields marked deprecated in the API are errors: a shipped config must not depend on them.
//
// Only the extension types imported below can be resolved inside an Any; a config that uses
// another extension fails with "unable to resolve" until its package is added here.
//
//	validate-envoy FILE...        prints "FILE: ok" or "FILE:LINE:COL: message" lines; exit 1 on any error
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"gopkg.in/yaml.v3"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	// Extensions whose types appear in `typed_config` / `typed_extension_protocol_options` of the
	// shipped configs (envoy/*.yaml). Importing a package registers its types for Any resolution.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
)

// ---- YAML → JSON with positions -------------------------------------------------------------

type pos struct{ line, col int }

// converter emits compact JSON and records, for every value, its byte offset in the JSON and its
// YAML position and path, so protojson's byte offsets and our field paths map back to YAML lines.
type converter struct {
	out     bytes.Buffer
	offsets []int // JSON offset of each recorded value, ascending
	where   []pos
	paths   map[string]pos
}

func (c *converter) mark(n *yaml.Node, path string) {
	c.offsets = append(c.offsets, c.out.Len())
	c.where = append(c.where, pos{n.Line, n.Column})
	if _, ok := c.paths[path]; !ok {
		c.paths[path] = pos{n.Line, n.Column}
	}
}

func (c *converter) emit(n *yaml.Node, path string) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	c.mark(n, path)
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("%d:%d: expected one YAML document", n.Line, n.Column)
		}
		return c.emit(n.Content[0], path)
	case yaml.MappingNode:
		c.out.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return fmt.Errorf("%d:%d: only plain scalar keys are supported", k.Line, k.Column)
			}
			if seen[k.Value] {
				return fmt.Errorf("%d:%d: duplicate key %q", k.Line, k.Column, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				c.out.WriteByte(',')
			}
			kb, _ := json.Marshal(k.Value)
			c.mark(k, join(path, k.Value))
			c.out.Write(kb)
			c.out.WriteByte(':')
			if err := c.emit(v, join(path, k.Value)); err != nil {
				return err
			}
		}
		c.out.WriteByte('}')
	case yaml.SequenceNode:
		c.out.WriteByte('[')
		for i, v := range n.Content {
			if i > 0 {
				c.out.WriteByte(',')
			}
			if err := c.emit(v, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		c.out.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			c.out.WriteString("null")
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return fmt.Errorf("%d:%d: %v", n.Line, n.Column, err)
			}
			c.out.WriteString(strconv.FormatBool(b))
		case "!!int", "!!float":
			var f json.Number
			// YAML numbers that are also JSON numbers go through as written (no float rounding
			// of large integers); others (0x1F, .inf) are refused, Envoy's loader refuses them too.
			if !regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`).MatchString(n.Value) {
				return fmt.Errorf("%d:%d: number %q is not a JSON number", n.Line, n.Column, n.Value)
			}
			f = json.Number(n.Value)
			c.out.WriteString(f.String())
		default:
			sb, _ := json.Marshal(n.Value)
			c.out.Write(sb)
		}
	default:
		return fmt.Errorf("%d:%d: unsupported YAML node", n.Line, n.Column)
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// at maps a JSON byte offset to the YAML position of the value that starts at or before it.
func (c *converter) at(off int) pos {
	i := sort.Search(len(c.offsets), func(i int) bool { return c.offsets[i] > off }) - 1
	if i < 0 {
		return pos{1, 1}
	}
	return c.where[i]
}

// ---- validation ------------------------------------------------------------------------------

type problem struct {
	pos pos
	msg string
}

type validator struct {
	conv     *converter
	problems []problem
}

func (v *validator) add(path, msg string) {
	p, ok := v.conv.paths[path]
	for !ok && path != "" {
		// The field may be absent in YAML (a required field): point at the nearest parent.
		if i := strings.LastIndexAny(path, ".["); i >= 0 {
			path = path[:i]
		} else {
			path = ""
		}
		p, ok = v.conv.paths[path]
	}
	if !ok {
		p = pos{1, 1}
	}
	v.problems = append(v.problems, problem{p, msg})
}

type allValidator interface{ ValidateAll() error }

// pgvError is the shape of every protoc-gen-validate error (FieldValidationError types).
type pgvError interface {
	error
	Field() string
	Reason() string
}

const embedded = "embedded message failed validation"

// ownErrors runs m's protoc-gen-validate rules and keeps the violations of m's own fields. PGV
// recurses into plain sub-messages; those violations are reported again, closer to their YAML
// line, when the walk reaches the sub-message, so the "embedded message" wrappers are dropped.
func ownErrors(m proto.Message) []pgvError {
	av, ok := m.(allValidator)
	if !ok {
		return nil
	}
	err := av.ValidateAll()
	if err == nil {
		return nil
	}
	var out []pgvError
	var flatten func(e error)
	flatten = func(e error) {
		type multi interface{ AllErrors() []error }
		if mm, ok := e.(multi); ok {
			for _, x := range mm.AllErrors() {
				flatten(x)
			}
			return
		}
		if pe, ok := e.(pgvError); ok {
			if pe.Reason() != embedded {
				out = append(out, pe)
			}
			return
		}
		out = append(out, plainError{e})
	}
	flatten(err)
	return out
}

type plainError struct{ error }

func (plainError) Field() string  { return "" }
func (plainError) Reason() string { return "" }

// fieldPath turns a PGV field name ("ConnectTimeout", "Listeners[2]", "ConfigType") into the
// YAML path of that field when it is one (proto text names), else stays at the message.
func fieldPath(md protoreflect.MessageDescriptor, path, field string) string {
	name, idx := field, ""
	if i := strings.IndexByte(field, '['); i >= 0 {
		name, idx = field[:i], field[i:]
	}
	want := strings.ToLower(name)
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if strings.ReplaceAll(string(fd.Name()), "_", "") == want {
			return join(path, fd.TextName()) + idx
		}
	}
	return path
}

// walk visits every message of the tree: reports its own PGV violations and its deprecated
// fields and enum values, unpacks the message inside each Any and walks that in turn.
func (v *validator) walk(m protoreflect.Message, path string) {
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		a := m.Interface().(*anypb.Any)
		inner, err := a.UnmarshalNew()
		if err != nil {
			v.add(path, fmt.Sprintf("cannot unpack %s: %v", a.GetTypeUrl(), err))
			return
		}
		v.walk(inner.ProtoReflect(), path)
		return
	}
	md := m.Descriptor()
	for _, e := range ownErrors(m.Interface()) {
		v.add(fieldPath(md, path, e.Field()), fmt.Sprintf("%s: %s", md.FullName(), e.Error()))
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		fp := join(path, fd.TextName())
		if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
			v.add(fp, fmt.Sprintf("field %s is deprecated in the Envoy API", fd.FullName()))
		}
		switch {
		case fd.IsList():
			l := val.List()
			for i := 0; i < l.Len(); i++ {
				v.value(fd, l.Get(i), fmt.Sprintf("%s[%d]", fp, i))
			}
		case fd.IsMap():
			val.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				v.value(fd.MapValue(), mv, join(fp, k.String()))
				return true
			})
		default:
			v.value(fd, val, fp)
		}
		return true
	})
}

func (v *validator) value(fd protoreflect.FieldDescriptor, val protoreflect.Value, path string) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		v.walk(val.Message(), path)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(val.Enum()); ev != nil {
			if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
				v.add(path, fmt.Sprintf("enum value %s is deprecated in the Envoy API", ev.FullName()))
			}
		}
	}
}

var protojsonPos = regexp.MustCompile(`\(line (\d+):(\d+)\)`)

func check(file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", file, err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []string{fmt.Sprintf("%s: %v", file, err)}
	}
	conv := &converter{paths: map[string]pos{}}
	if err := conv.emit(&doc, ""); err != nil {
		return []string{fmt.Sprintf("%s:%v", file, err)}
	}
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(conv.out.Bytes(), &b); err != nil {
		msg := err.Error()
		p := pos{1, 1}
		// The JSON is on one line: protojson's column is the byte offset + 1.
		if mm := protojsonPos.FindStringSubmatch(msg); mm != nil {
			col, _ := strconv.Atoi(mm[2])
			p = conv.at(col - 1)
			msg = strings.TrimSpace(protojsonPos.ReplaceAllString(msg, ""))
		}
		msg = strings.ReplaceAll(msg, "\u00a0", " ") // protojson marks its messages with non-breaking spaces
		msg = strings.TrimLeft(strings.TrimPrefix(msg, "proto:"), ": ")
		return []string{fmt.Sprintf("%s:%d:%d: %s", file, p.line, p.col, msg)}
	}
	v := &validator{conv: conv}
	v.walk(b.ProtoReflect(), "")
	var out []string
	for _, p := range v.problems {
		out = append(out, fmt.Sprintf("%s:%d:%d: %s", file, p.pos.line, p.pos.col, p.msg))
	}
	return out
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: validate-envoy FILE...")
		os.Exit(2)
	}
	failed := false
	for _, f := range os.Args[1:] {
		if errs := check(f); len(errs) > 0 {
			failed = true
			for _, e := range errs {
				fmt.Println(e)
			}
		} else {
			fmt.Printf("%s: ok\n", f)
		}
	}
	if failed {
		os.Exit(1)
	}
}
