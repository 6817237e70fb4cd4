package membudget

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"
	"time"
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

	// GOMEMLIMIT: POST bytes, the runtime's value comes back.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	r, err = http.Post(srv.URL+"/debug/memlimit", "text/plain", strings.NewReader("805306368"))
	var ml struct{ Applied, Previous int64 }
	if err != nil || r.StatusCode != 200 || json.NewDecoder(r.Body).Decode(&ml) != nil ||
		ml.Applied != 805306368 || debug.SetMemoryLimit(-1) != 805306368 {
		t.Fatalf("POST /debug/memlimit: %v %+v", err, ml)
	}
	for _, bad := range []string{"", "-1", "0", "1Gi", "99999999999999999999999"} {
		if r, _ := http.Post(srv.URL+"/debug/memlimit", "text/plain", strings.NewReader(bad)); r.StatusCode != 400 {
			t.Errorf("POST /debug/memlimit %q: %d", bad, r.StatusCode)
		}
	}

	// Metrics: the names membudget samples.
	r, _ = http.Get(srv.URL + "/metrics")
	body, _ := io.ReadAll(r.Body)
	buf := new(strings.Builder)
	buf.Write(body)
	for _, want := range []string{"go_memstats_heap_inuse_bytes ", "process_resident_memory_bytes ",
		"go_goroutines ", "membudget_throttled 1\n", "membudget_forced_gc_total 1\n",
		"go_cpu_classes_gc_total_cpu_seconds_total ", "go_cpu_classes_total_cpu_seconds_total ",
		"go_gc_gomemlimit_bytes 8.05306368e+08\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, buf.String())
		}
	}
}

// The GC's share of the CPU rises when the live heap sits at GOMEMLIMIT and
// the program keeps allocating: the counters show it.
func TestGCCPUCounters(t *testing.T) {
	gc0, total0 := gcCPU()
	if gc0 < 0 || total0 <= 0 {
		t.Fatalf("no counters: %v %v", gc0, total0)
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	type node struct {
		next *node
		pad  [48]byte
	}
	var live *node
	for i := 0; i < (56<<20)/64; i++ { // about 56 MiB of pointers under a 64 MiB limit
		live = &node{next: live}
	}
	deadline := time.Now().Add(500 * time.Millisecond)
	var sink *node
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			sink = &node{next: sink}
		}
		sink = nil
	}
	gc1, total1 := gcCPU()
	share := (gc1 - gc0) / (total1 - total0)
	t.Logf("GC share over 0.5 s at the limit: %.0f%% (live %p)", share*100, live)
	if gc1 <= gc0 || total1 <= total0 || share <= 0 || share > 1 {
		t.Fatalf("counters did not move as they should: gc %v -> %v, total %v -> %v", gc0, gc1, total0, total1)
	}
}
