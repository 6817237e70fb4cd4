// admlat: pod creates through the API server's admission, timed as its
// client sees them: N budgeted pods (never scheduled: a scheduling gate)
// created one after another in a namespace, then deleted. Prints
// {"n": N, "p50Ms": ..., "p99Ms": ..., "meanMs": ...} on stdout.
//
//	admlat --kubeconfig FILE --namespace NS --count N [--warmup 20] [--env N]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "admlat: "+format+"\n", a...)
	os.Exit(1)
}

func pod(name string, env int) *corev1.Pod {
	vars := make([]corev1.EnvVar, 0, env)
	for i := 0; i < env; i++ {
		vars = append(vars, corev1.EnvVar{Name: fmt.Sprintf("V%d", i), Value: "x"})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "admlat"},
			Annotations: map[string]string{"membudget.io/budget": "768Mi"}},
		Spec: corev1.PodSpec{
			SchedulingGates: []corev1.PodSchedulingGate{{Name: "membudget.test/never"}},
			Containers: []corev1.Container{{Name: "app", Image: "shop/web", Env: vars,
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceMemory: resource.MustParse("1Gi")}}}},
		},
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server")
	ns := flag.String("namespace", "", "namespace to create the pods in (it must exist)")
	count := flag.Int("count", 500, "pods to create, one after another")
	warmup := flag.Int("warmup", 20, "creates first, not counted (connections, caches)")
	env := flag.Int("env", 0, "environment variables of the pod's container (a large pod: 60000)")
	flag.Parse()
	if *ns == "" {
		die("--namespace is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		die("%v", err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		die("%v", err)
	}
	ctx := context.Background()
	lat := make([]float64, 0, *count)
	for i := 0; i < *warmup+*count; i++ {
		t := time.Now()
		_, err := cs.CoreV1().Pods(*ns).Create(ctx, pod(fmt.Sprintf("admlat-%d", i), *env), metav1.CreateOptions{})
		d := time.Since(t)
		if err != nil {
			die("create admlat-%d in %s: %v", i, *ns, err)
		}
		if i >= *warmup {
			lat = append(lat, float64(d.Microseconds())/1000)
		}
	}
	if err := cs.CoreV1().Pods(*ns).DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: "app=admlat"}); err != nil {
		die("delete: %v", err)
	}
	sort.Float64s(lat)
	sum := 0.0
	for _, v := range lat {
		sum += v
	}
	q := func(p float64) float64 { return lat[int(p*float64(len(lat)-1)+0.5)] }
	fmt.Printf("{\"n\": %d, \"p50Ms\": %.2f, \"p99Ms\": %.2f, \"meanMs\": %.2f}\n", len(lat), q(0.5), q(0.99),
		sum/float64(len(lat)))
}
