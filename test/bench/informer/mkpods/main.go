// mkpods: makes the scale bench's pods through the real API server: COUNT
// budgeted pods in NAMESPACE, bound to kwok's fake nodes (spec.nodeName set,
// so the scheduler has nothing to do), then waits until kwok reports them all
// Running with an IP. Progress every 5 seconds on stderr.
//
//	mkpods --kubeconfig FILE --namespace NS --count N --nodes M [--workers 16]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "mkpods: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server")
	ns := flag.String("namespace", "scale", "namespace of the pods (created when missing)")
	count := flag.Int("count", 1000, "pods to make")
	nodes := flag.Int("nodes", 10, "kwok nodes kwok-node-0 .. kwok-node-(M-1) to spread them over")
	workers := flag.Int("workers", 16, "concurrent creates")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	metricsPort := flag.Int("metrics-port", 0, "declare this container port and point membudget.io/metrics at it (0: no endpoint, usage from the metrics API)")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		die("%v", err)
	}
	cfg.QPS, cfg.Burst = 2000, 2000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		die("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *ns,
		Labels: map[string]string{"membudget.io/enforce": "true"}}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		die("namespace %s: %v", *ns, err)
	}
	var made, failed atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p := pod(*ns, i, *nodes, *metricsPort)
				_, err := cs.CoreV1().Pods(*ns).Create(ctx, p, metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					if failed.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "mkpods: create %s: %v\n", p.Name, err)
					}
					continue
				}
				made.Add(1)
			}
		}()
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	go func() {
		for i := 0; i < *count; i++ {
			next <- i
		}
		close(next)
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			fmt.Fprintf(os.Stderr, "mkpods: %d/%d created (%.0f/s)\n", made.Load(), *count,
				float64(made.Load())/time.Since(start).Seconds())
		case <-ctx.Done():
			die("timed out with %d/%d created", made.Load(), *count)
		}
	}
	if failed.Load() > 0 {
		die("%d creates failed", failed.Load())
	}
	fmt.Fprintf(os.Stderr, "mkpods: %d created in %s; waiting until kwok runs them\n", made.Load(),
		time.Since(start).Round(time.Second))
	for {
		running, total := 0, 0
		opts := metav1.ListOptions{Limit: 5000}
		for {
			l, err := cs.CoreV1().Pods(*ns).List(ctx, opts)
			if err != nil {
				die("list: %v", err)
			}
			for i := range l.Items {
				total++
				if l.Items[i].Status.Phase == corev1.PodRunning && l.Items[i].Status.PodIP != "" {
					running++
				}
			}
			if l.Continue == "" {
				break
			}
			opts.Continue = l.Continue
		}
		fmt.Fprintf(os.Stderr, "mkpods: %d/%d Running with an IP\n", running, total)
		if running >= *count {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			die("timed out with %d/%d Running", running, *count)
		}
	}
	// As membudget leaves them: the gate's condition True (kwok, as its
	// stages are run here, leaves readiness gates alone, as a kubelet does).
	// A controller measured later then syncs a settled namespace, as after a
	// restart, instead of writing 10k conditions while it is measured.
	gated := make(chan int)
	var set, setFailed atomic.Int64
	patch := []byte(`{"status":{"conditions":[{"type":"membudget.io/within-budget","status":"True",` +
		`"reason":"WithinBudget","message":"mkpods: as membudget leaves a pod within budget"}]}}`)
	var pw sync.WaitGroup
	for w := 0; w < *workers; w++ {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := range gated {
				_, err := cs.CoreV1().Pods(*ns).Patch(ctx, fmt.Sprintf("p-%d", i),
					types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
				if err != nil {
					if setFailed.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "mkpods: condition of p-%d: %v\n", i, err)
					}
					continue
				}
				set.Add(1)
			}
		}()
	}
	quiet := make(chan struct{})
	go func() { // progress: 100k status patches take minutes
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintf(os.Stderr, "mkpods: the gate's condition True on %d/%d pods\n", set.Load(), *count)
			case <-quiet:
				return
			}
		}
	}()
	for i := 0; i < *count; i++ {
		gated <- i
	}
	close(gated)
	pw.Wait()
	close(quiet)
	if setFailed.Load() > 0 {
		die("%d condition patches failed", setFailed.Load())
	}
	fmt.Fprintf(os.Stderr, "mkpods: the gate's condition True on %d pods\n", set.Load())
	fmt.Printf("{\"pods\": %d, \"seconds\": %.1f}\n", *count, time.Since(start).Seconds())
}

// pod i: budgeted and gated as the webhook leaves a pod, on a kwok node.
func pod(ns string, i, nodes, metricsPort int) *corev1.Pod {
	ann := map[string]string{"membudget.io/budget": "64Mi", "membudget.io/usage": "working-set"}
	var ports []corev1.ContainerPort
	if metricsPort > 0 {
		ann["membudget.io/usage"] = "heap"
		ann["membudget.io/metrics"] = fmt.Sprintf("%d/metrics", metricsPort)
		ports = []corev1.ContainerPort{{ContainerPort: int32(metricsPort)}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("p-%d", i), Namespace: ns,
			Labels:      map[string]string{"app": fmt.Sprintf("app-%d", i%100)},
			Annotations: ann,
		},
		Spec: corev1.PodSpec{
			NodeName:       fmt.Sprintf("kwok-node-%d", i%nodes),
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "membudget.io/within-budget"}},
			Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoSchedule}},
			Containers: []corev1.Container{{Name: "app", Image: "fake", Ports: ports,
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceMemory: resource.MustParse("128Mi")}}}},
		},
	}
}
