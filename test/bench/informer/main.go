// informer: the peer of membudget's pod watch in `make bench` -- a client-go
// shared informer for pods in every namespace, the way controller-runtime
// controllers list and watch. It lists and watches through the same API
// server as membudget, and prints, as one JSON line, how long it took to be
// synced and what it holds then:
//
//	{"pods": N, "syncedMs": T, "rssKiB": R, "heapBytes": H}
//
// rssKiB is VmRSS after a GC, heapBytes the Go heap in use after it.
//
//	informer --kubeconfig FILE [--namespace NS] [--strip-managed-fields] [--hold 0s]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return -1
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server")
	strip := flag.Bool("strip-managed-fields", false, "drop metadata.managedFields before caching (controller-runtime's TransformStripManagedFields)")
	hold := flag.Duration("hold", 0, "keep watching this long after the sync before measuring")
	namespace := flag.String("namespace", "", "watch this namespace only (\"\": all)")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "informer: %v\n", err)
		os.Exit(2)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "informer: %v\n", err)
		os.Exit(2)
	}
	var opts []informers.SharedInformerOption
	if *namespace != "" {
		opts = append(opts, informers.WithNamespace(*namespace))
	}
	if *strip {
		opts = append(opts, informers.WithTransform(func(o any) (any, error) {
			if p, ok := o.(*corev1.Pod); ok {
				p.ManagedFields = nil
			}
			return o, nil
		}))
	}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, opts...)
	inf := f.Core().V1().Pods().Informer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	f.Start(ctx.Done())
	// (cache.WaitForCacheSync polls every 100 ms: too coarse for the figure)
	for !inf.HasSynced() {
		if time.Since(start) > 10*time.Minute {
			fmt.Fprintln(os.Stderr, "informer: never synced")
			os.Exit(1)
		}
		time.Sleep(time.Millisecond)
	}
	synced := time.Since(start)
	time.Sleep(*hold)
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out, _ := json.Marshal(map[string]any{"pods": len(inf.GetStore().ListKeys()),
		"syncedMs": synced.Milliseconds(), "rssKiB": rssKiB(), "heapBytes": ms.HeapInuse})
	fmt.Println(string(out))
}
