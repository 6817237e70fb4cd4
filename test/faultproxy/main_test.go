package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// start: an upstream that answers every path with its own name, and the
// proxy in front of it (as main builds it).
func start(t *testing.T) (*proxy, string) {
	t.Helper()
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if isWatch(r) {
			w.Write([]byte(`{"type":"ADDED","object":{"kind":"Pod"}}` + "\n"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		w.Write([]byte(`{"upstream":"` + r.URL.Path + `","auth":"` + r.Header.Get("Authorization") + `"}`))
	}))
	t.Cleanup(up.Close)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o644)
	p, err := newProxy(up.URL, ca)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	return p, "http://" + p.addr
}

func do(t *testing.T, method, u string, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	c := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2<<20))
	return resp.StatusCode, resp.Header, string(b)
}

func TestForwardsWithTheCallersCredentials(t *testing.T) {
	_, base := start(t)
	code, _, body := do(t, "GET", base+"/api/v1/pods", "")
	if code != 200 || !strings.Contains(body, `"upstream":"/api/v1/pods"`) || !strings.Contains(body, "Bearer tok") {
		t.Fatalf("got %d %s", code, body)
	}
}

func TestRules(t *testing.T) {
	_, base := start(t)
	cases := []struct {
		name, rule, path string
		code             int
		header, body     string
	}{
		{"429 with Retry-After, once", `{"status":429,"retryAfter":3,"path":"/api/v1/pods"}`,
			"/api/v1/pods", 429, "3", `"reason":"TooManyRequests"`},
		{"then forwarded again", ``, "/api/v1/pods", 200, "", `"upstream"`},
		{"watch expired: 200 and an ERROR event with 410", `{"action":"expired","watch":true}`,
			"/api/v1/pods?watch=1", 200, "", `"code":410`},
		{"a list is not a watch", `{"action":"endAtOnce","watch":true}`, "/api/v1/pods", 200, "",
			`"upstream"`},
		{"the watch ends at once", ``, "/api/v1/pods?watch=true", 200, "", ""},
		{"redirect", `{"action":"redirect"}`, "/api/v1/pods", 307, "elsewhere.invalid", ""},
		{"garbage before the answer", `{"action":"garbage"}`, "/api/v1/pods", 200, "",
			"this is not json"},
		{"slow, but whole", `{"action":"slow","bytesPerSecond":1000}`, "/api/v1/pods", 200, "",
			`"upstream":"/api/v1/pods"`},
		{"method filter: a GET rule leaves a POST alone", `{"status":500,"method":"GET","path":"/api/v1/x"}`,
			"/api/v1/nodes", 200, "", `"upstream"`},
	}
	for _, c := range cases {
		if c.rule != "" {
			if code, _, b := do(t, "POST", base+"/_faults", `{"rules":[`+c.rule+`]}`); code != 200 {
				t.Fatalf("%s: POST /_faults: %d %s", c.name, code, b)
			}
		}
		code, h, body := do(t, "GET", base+c.path, "")
		hv := h.Get("Retry-After") + h.Get("Location")
		if code != c.code || !strings.Contains(hv, c.header) || !strings.Contains(body, c.body) {
			t.Errorf("%s: got %d %q %.200s", c.name, code, hv, body)
		}
	}
}

func TestForeverAndOff(t *testing.T) {
	_, base := start(t)
	do(t, "POST", base+"/_faults", `{"rules":[{"status":503,"count":-1}]}`)
	for i := 0; i < 3; i++ {
		if code, _, _ := do(t, "GET", base+"/api", ""); code != 503 {
			t.Fatalf("request %d: %d, want 503 forever", i, code)
		}
	}
	do(t, "DELETE", base+"/_faults", "")
	if code, _, _ := do(t, "GET", base+"/api", ""); code != 200 {
		t.Fatalf("after DELETE: %d", code)
	}
}

func TestDeclare1GiBIsCut(t *testing.T) {
	_, base := start(t)
	do(t, "POST", base+"/_faults", `{"rules":[{"action":"declare1GiB"}]}`)
	resp, err := http.Get(base + "/api/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.ContentLength != 1<<30 || err == nil || n >= 1<<30 {
		t.Fatalf("declared %d, read %d, err %v", resp.ContentLength, n, err)
	}
}

func TestRequestLogAndBadControl(t *testing.T) {
	_, base := start(t)
	do(t, "GET", base+"/api/v1/pods?watch=1&timeoutSeconds=1", "")
	do(t, "GET", base+"/api/v1/pods", "")
	_, _, body := do(t, "GET", base+"/_faults/requests", "")
	var log []entry
	if err := json.Unmarshal([]byte(body), &log); err != nil || len(log) != 2 || !log[0].Watch || log[1].Watch ||
		log[1].Status != 200 {
		t.Fatalf("log %s (%v)", body, err)
	}
	if code, _, b := do(t, "POST", base+"/_faults", `{"rulez":[]}`); code != 400 || !strings.Contains(b, "rulez") {
		t.Fatalf("unknown field: %d %s", code, b)
	}
}

func TestDropWatches(t *testing.T) {
	_, base := start(t)
	done := make(chan string)
	go func() {
		resp, err := http.Get(base + "/api/v1/pods?watch=1")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		done <- string(b)
	}()
	time.Sleep(200 * time.Millisecond)
	do(t, "POST", base+"/_faults", `{"dropWatches":true}`)
	select {
	case got := <-done:
		if !strings.Contains(got, "ADDED") {
			t.Fatalf("the watch got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch was not dropped")
	}
}

func TestDown(t *testing.T) {
	p, base := start(t)
	do(t, "POST", base+"/_faults", `{"downMs":500}`)
	time.Sleep(200 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		t.Fatal("still accepting while down")
	}
	var code int
	for i := 0; i < 50 && code != 200; i++ {
		time.Sleep(100 * time.Millisecond)
		code, _, _ = do(t, "GET", base+"/api", "")
	}
	if code != 200 {
		t.Fatalf("not back after down: %d", code)
	}
}
