// Command vigil is the policy-as-code posture and runbook engine for cloud
// incident response. See internal/cli for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/vigil-ir/vigil/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// VIGIL_CPUPROFILE=file writes a CPU profile of the run, for
	// `go tool pprof` (see bench/README.md).
	if path := os.Getenv("VIGIL_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
		}
	}
	// VIGIL_HEAPPROFILE=file writes a heap profile each time the live heap
	// reaches a new high (by a tenth): the file holds what the peak was
	// made of, which a profile at exit no longer shows.
	if path := os.Getenv("VIGIL_HEAPPROFILE"); path != "" {
		go heapPeaks(ctx, path)
	}
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	pprof.StopCPUProfile()
	stop()
	os.Exit(code)
}

func heapPeaks(ctx context.Context, path string) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak uint64
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			continue
		}
		if live := sample[0].Value.Uint64(); live > peak+peak/10 {
			peak = live
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
