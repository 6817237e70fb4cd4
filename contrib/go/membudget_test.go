package membudget

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEndpoints(t *testing.T) {
	mux := http.NewServeMux()
	h := New()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// GC: POST only; answers before/after.
	if r, _ := http.Get(srv.URL + "/debug/gc"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /debug/gc: %d", r.StatusCode)
	}
	garbage := make([][]byte, 0, 64)
	for i := 0; i < 64; i++ {
		garbage = append(garbage, make([]byte, 1<<20))
	}
	garbage = nil
	r, err := http.Post(srv.URL+"/debug/gc", "application/json", nil)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("POST /debug/gc: %v %v", err, r)
	}
	var gc struct{ Before, After MemStats }
	if err := json.NewDecoder(r.Body).Decode(&gc); err != nil {
		t.Fatal(err)
	}
	if gc.After.NumGC <= gc.Before.NumGC || gc.After.HeapAlloc >= gc.Before.HeapAlloc {
		t.Fatalf("GC did not run or reclaim: %+v", gc)
	}

	// Throttle switch.
	if r, _ := http.Post(srv.URL+"/debug/throttle", "application/json", strings.NewReader(`{"throttle":true}`)); r.StatusCode != 200 || !h.Throttled() {
		t.Fatalf("throttle on: %d %v", r.StatusCode, h.Throttled())
	}
	if r, _ := http.Post(srv.URL+"/debug/throttle", "application/json", strings.NewReader(`{"x":1}`)); r.StatusCode != 400 {
		t.Fatalf("bad throttle body: %d", r.StatusCode)
	}

	// Metrics: the names membudget samples.
	r, _ = http.Get(srv.URL + "/metrics")
	body, _ := io.ReadAll(r.Body)
	buf := new(strings.Builder)
	buf.Write(body)
	for _, want := range []string{"go_memstats_heap_inuse_bytes ", "process_resident_memory_bytes ",
		"go_goroutines ", "membudget_throttled 1\n", "membudget_forced_gc_total 1\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, buf.String())
		}
	}
}
