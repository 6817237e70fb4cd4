// responder: one process standing in for a fleet of pods' /metrics
// endpoints. Bound to 0.0.0.0:PORT it answers on every loopback address
// (127.x.y.z), so 10k simulated pods with distinct IPs can be scraped.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
)

func main() {
	listen := flag.String("listen", "0.0.0.0:19000", "address")
	heap := flag.Int64("heap", 50<<20, "go_memstats_heap_inuse_bytes to report")
	flag.Parse()
	body := fmt.Sprintf("# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 12\n"+
		"# HELP go_memstats_heap_inuse_bytes Heap in use.\n# TYPE go_memstats_heap_inuse_bytes gauge\n"+
		"go_memstats_heap_inuse_bytes %d\n# HELP process_resident_memory_bytes RSS.\n"+
		"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", *heap, *heap+(20<<20))
	http.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, body)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
