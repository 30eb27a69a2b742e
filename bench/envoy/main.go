// The two Go halves of `npm run bench:envoy` (bench/envoy.ts builds this into .cache/ and runs
// both on the core Envoy does not use). Standard library only.
//
//	bench-envoy mock -cases cases.json          a fast upstream: prints its port, then serves
//	bench-envoy load -url URL -case C ...       closed-loop load, prints one JSON result line
//
// The mock answers each request with the case named by the request's x-bench-case header (the
// gateway passes unknown headers upstream): a status, headers and a body given as chunks. With
// "each" every chunk is written and flushed on its own (TCP_NODELAY is Go's default) after a short
// pause, so Envoy reads one event per read, as providers stream; otherwise the whole body is one
// write with a content-length, so one read holds many events.
//
// The load generator keeps -conns keep-alive connections busy. It checks every answer (status,
// required substrings, the count of a marker such as "data: " in SSE, and the body length within a
// tolerance) before it is counted: one wrong answer fails the run, so a fast run of errors is never
// a result. Over the measured window it reads the CPU time (utime+stime, all threads) of -pid from
// /proc/<pid>/stat, and prints requests, CPU µs/request and the process's RSS at the end.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type mockCase struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Chunks  []string          `json:"chunks"` // base64
	Each    bool              `json:"each"`
	DelayUs int               `json:"delay_us"`
	body    [][]byte
	whole   []byte
}

func mock(args []string) {
	fs := flag.NewFlagSet("mock", flag.ExitOnError)
	casesFile := fs.String("cases", "", "cases JSON file")
	fs.Parse(args)
	raw, err := os.ReadFile(*casesFile)
	if err != nil {
		fail("mock: %v", err)
	}
	cases := map[string]*mockCase{}
	if err := json.Unmarshal(raw, &cases); err != nil {
		fail("mock: %v", err)
	}
	for name, c := range cases {
		for _, ch := range c.Chunks {
			b, err := base64.StdEncoding.DecodeString(ch)
			if err != nil {
				fail("mock: case %s: %v", name, err)
			}
			c.body = append(c.body, b)
			c.whole = append(c.whole, b...)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("mock: %v", err)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		c := cases[r.Header.Get("x-bench-case")]
		if c == nil {
			http.Error(w, "unknown x-bench-case "+r.Header.Get("x-bench-case"), 404)
			return
		}
		h := w.Header()
		for k, v := range c.Headers {
			h.Set(k, v)
		}
		if !c.Each {
			h.Set("content-length", strconv.Itoa(len(c.whole)))
			w.WriteHeader(c.Status)
			w.Write(c.whole)
			return
		}
		w.WriteHeader(c.Status)
		fl := w.(http.Flusher)
		fl.Flush()
		for _, b := range c.body {
			if c.DelayUs > 0 {
				time.Sleep(time.Duration(c.DelayUs) * time.Microsecond)
			}
			w.Write(b)
			fl.Flush()
		}
	})
	srv := &http.Server{Handler: handler}
	if err := srv.Serve(ln); err != nil {
		fail("mock: %v", err)
	}
}

type expectation struct {
	Status    int      `json:"status"`
	Contains  []string `json:"contains"`
	Count     string   `json:"count"` // marker counted in the body
	CountN    int      `json:"count_n"`
	Length    int      `json:"length"` // reference body length
	LengthTol int      `json:"length_tol"`
}

func (e *expectation) check(status int, body []byte) error {
	if status != e.Status {
		return fmt.Errorf("status %d, want %d: %.300s", status, e.Status, body)
	}
	for _, s := range e.Contains {
		if !bytes.Contains(body, []byte(s)) {
			return fmt.Errorf("body lacks %q: %.300s", s, body)
		}
	}
	if e.Count != "" {
		if n := bytes.Count(body, []byte(e.Count)); n != e.CountN {
			return fmt.Errorf("body has %d %q, want %d: %.300s", n, e.Count, e.CountN, body)
		}
	}
	if e.Length > 0 && (len(body) < e.Length-e.LengthTol || len(body) > e.Length+e.LengthTol) {
		return fmt.Errorf("body is %d bytes, want %d±%d: %.300s", len(body), e.Length, e.LengthTol, body)
	}
	return nil
}

func cpuTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) start after the last ')'.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("cannot parse /proc stat")
	}
	return ut + st, nil
}

func rssKiB(pid int) int64 {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return n
		}
	}
	return 0
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "", "request URL")
	reqFile := fs.String("body", "", "request body file")
	headersJSON := fs.String("headers", "{}", "request headers (JSON object)")
	expectJSON := fs.String("expect", "{}", "expectation (JSON)")
	conns := fs.Int("conns", 8, "connections")
	warmup := fs.Duration("warmup", time.Second, "warm-up time (not measured)")
	dur := fs.Duration("duration", 3*time.Second, "measured time")
	pid := fs.Int("pid", 0, "process whose CPU time is measured")
	fs.Parse(args)
	body, err := os.ReadFile(*reqFile)
	if err != nil {
		fail("load: %v", err)
	}
	headers := map[string]string{}
	if err := json.Unmarshal([]byte(*headersJSON), &headers); err != nil {
		fail("load: -headers: %v", err)
	}
	var exp expectation
	if err := json.Unmarshal([]byte(*expectJSON), &exp); err != nil {
		fail("load: -expect: %v", err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var phase atomic.Int32 // 0 warm-up, 1 measured, 2 stop
	var counted atomic.Int64
	var firstErr atomic.Value
	var errCount atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for phase.Load() < 2 {
				req, _ := http.NewRequest("POST", *url, bytes.NewReader(body))
				for k, v := range headers {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				rb, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					err = exp.check(resp.StatusCode, rb)
				}
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				if phase.Load() == 1 {
					counted.Add(1)
				}
			}
		}()
	}
	time.Sleep(*warmup)
	t0, err := cpuTicks(*pid)
	if err != nil {
		fail("load: %v", err)
	}
	start := time.Now()
	phase.Store(1)
	time.Sleep(*dur)
	n := counted.Load()
	t1, _ := cpuTicks(*pid)
	wall := time.Since(start)
	phase.Store(2)
	wg.Wait()
	tick := 1e6 / 100.0 // USER_HZ is 100 on Linux
	out := map[string]any{
		"requests": n, "errors": errCount.Load(), "cpu_us": float64(t1-t0) * tick,
		"wall_s": wall.Seconds(), "rss_kib": rssKiB(*pid),
	}
	if n > 0 {
		out["cpu_us_per_request"] = float64(t1-t0) * tick / float64(n)
	}
	if e := firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	if errCount.Load() > 0 || n == 0 {
		os.Exit(1)
	}
}

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, f+"\n", a...)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: bench-envoy mock|load ...")
	}
	switch os.Args[1] {
	case "mock":
		mock(os.Args[2:])
	case "load":
		load(os.Args[2:])
	default:
		fail("unknown command %s", os.Args[1])
	}
}
