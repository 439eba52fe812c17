// Command flux-ssa-apply applies a multi-document YAML file to a Kubernetes
// cluster with Flux's server-side apply engine (github.com/fluxcd/pkg/ssa),
// the same engine kustomize-controller uses, and prints a JSON summary.
//
//	flux-ssa-apply --kubeconfig PATH --file objects.yaml [--wait=false]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
)

type result struct {
	File           string              `json:"file"`
	Objects        int                 `json:"objects"`
	Created        int                 `json:"created"`
	Configured     int                 `json:"configured"`
	Unchanged      int                 `json:"unchanged"`
	Skipped        int                 `json:"skipped"`
	Other          int                 `json:"other"`
	Waited         bool                `json:"waited"`
	SetupSeconds   float64             `json:"setup_seconds"`
	ApplySeconds   float64             `json:"apply_seconds"`
	WaitSeconds    float64             `json:"wait_seconds"`
	ElapsedSeconds float64             `json:"elapsed_seconds"`
	Changes        map[string][]string `json:"changes,omitempty"`
	Error          string              `json:"error,omitempty"`
}

func main() {
	start := time.Now()
	var (
		kubeconfig  = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "path to the kubeconfig file (default $KUBECONFIG)")
		file        = flag.String("file", "", "multi-document YAML (or JSON) file with the objects to apply")
		wait        = flag.Bool("wait", true, "after applying, wait for all objects to become ready (kstatus Current)")
		timeout     = flag.Duration("timeout", 2*time.Minute, "overall timeout; also the wait timeout of each wait")
		interval    = flag.Duration("interval", 2*time.Second, "poll interval while waiting")
		fieldOwner  = flag.String("field-manager", "dockyard-bench", "server-side apply field manager")
		ownerGroup  = flag.String("owner-group", "bench.dockyard.dev", "owner label prefix (only used for the Owner struct)")
		defaultNS   = flag.String("namespace", "default", "namespace for namespaced objects that have none (empty: leave as is)")
		concurrency = flag.Int("concurrency", 4, "concurrent dry-run requests inside ApplyAll (ssa default is 1)")
		qps         = flag.Float64("qps", 50, "client-side rate limit, requests/s (client-go default is 5)")
		burst       = flag.Int("burst", 300, "client-side burst")
		force       = flag.Bool("force", false, "recreate objects whose immutable fields changed")
		verbose     = flag.Bool("verbose", false, "include per-object changes in the JSON output")
	)
	flag.Parse()

	res := &result{File: *file}
	err := run(start, res, *kubeconfig, *file, *wait, *timeout, *interval, *fieldOwner, *ownerGroup,
		*defaultNS, *concurrency, float32(*qps), *burst, *force, *verbose)
	res.ElapsedSeconds = round(time.Since(start))
	if err != nil {
		res.Error = err.Error()
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(res)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(start time.Time, res *result, kubeconfig, file string, wait bool, timeout, interval time.Duration,
	fieldOwner, ownerGroup, defaultNS string, concurrency int, qps float32, burst int, force, verbose bool) error {
	if file == "" {
		return errors.New("--file is required")
	}

	// Read the objects. utils.ReadObjects splits YAML/JSON documents, expands
	// v1 List kinds and silently drops documents that are not Kubernetes
	// objects (and kustomize.config.k8s.io Kustomization files).
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	objects, err := utils.ReadObjects(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	res.Objects = len(objects)

	// Clients: rest.Config -> lazy dynamic RESTMapper -> controller-runtime
	// client (no cache) -> kstatus poller.
	var cfg *rest.Config
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS = qps
	cfg.Burst = burst
	cfg.UserAgent = "flux-ssa-apply"

	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return err
	}
	kubeClient, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		return err
	}
	poller := polling.NewStatusPoller(kubeClient, mapper, polling.Options{})

	manager := ssa.NewResourceManager(kubeClient, poller, ssa.Owner{Field: fieldOwner, Group: ownerGroup})
	manager.SetConcurrency(concurrency)

	// Like kubectl, give namespaced objects without a namespace a default one.
	// The scope comes from the server; for kinds the server does not know yet
	// (custom resources whose CRD is in the same file) it comes from that CRD's
	// spec.scope. Objects of unknown kinds are left untouched (apply fails).
	if defaultNS != "" {
		crdScopes := map[schema.GroupKind]string{}
		for _, o := range objects {
			if utils.IsCRD(o) {
				group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
				kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
				scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
				crdScopes[schema.GroupKind{Group: group, Kind: kind}] = scope
			}
		}
		for _, o := range objects {
			if o.GetNamespace() != "" {
				continue
			}
			gvk := o.GroupVersionKind()
			if m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
				if m.Scope.Name() == meta.RESTScopeNameNamespace {
					o.SetNamespace(defaultNS)
				}
			} else if crdScopes[gvk.GroupKind()] == "Namespaced" {
				o.SetNamespace(defaultNS)
			}
		}
	}
	res.SetupSeconds = round(time.Since(start))

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	opts := ssa.DefaultApplyOptions() // Force=false, WaitInterval=2s, WaitTimeout=60s
	opts.Force = force
	opts.WaitInterval = interval
	opts.WaitTimeout = timeout

	// ApplyAllStaged: CRDs, ClusterRoles and Namespaces first (then waits for
	// them to be ready), then *Class kinds (waits), then everything else.
	// Each stage: GET + server-side dry-run apply per object (concurrently),
	// diff, then a real apply only for created/drifted objects.
	applyStart := time.Now()
	changeSet, applyErr := manager.ApplyAllStaged(ctx, objects, opts)
	res.ApplySeconds = round(time.Since(applyStart))
	if changeSet != nil {
		count(res, changeSet, verbose)
	}
	if applyErr != nil {
		return fmt.Errorf("apply: %w", applyErr)
	}

	if wait && len(changeSet.Entries) > 0 {
		res.Waited = true
		waitStart := time.Now()
		err = manager.WaitForSetWithContext(ctx, changeSet.ToObjMetadataSet(), ssa.WaitOptions{
			Interval: interval,
			Timeout:  timeout,
			FailFast: true,
		})
		res.WaitSeconds = round(time.Since(waitStart))
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
	}
	return nil
}

func count(res *result, cs *ssa.ChangeSet, verbose bool) {
	res.Created, res.Configured, res.Unchanged, res.Skipped, res.Other = 0, 0, 0, 0, 0
	for _, e := range cs.Entries {
		switch e.Action {
		case ssa.CreatedAction:
			res.Created++
		case ssa.ConfiguredAction:
			res.Configured++
		case ssa.UnchangedAction:
			res.Unchanged++
		case ssa.SkippedAction:
			res.Skipped++
		default:
			res.Other++
		}
	}
	if verbose {
		res.Changes = map[string][]string{}
		for a, subjects := range cs.ToGroupedMap() {
			sort.Strings(subjects)
			res.Changes[a.String()] = subjects
		}
	}
}

func round(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}
