// Package gctune sizes the garbage collector for scans: a scan allocates
// gigabytes of short-lived values (Rego terms per asset) while keeping
// little, and Go's default (collect whenever the heap doubles) then runs
// the collector hundreds of times over a small heap, a fifth of the CPU.
// Start lets the heap grow to a floor before collecting, and keeps a fixed
// headroom above what is live past that, so that memory stays bounded and
// predictable whatever the inventory size.
package gctune

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Bounds of the floor: the heap may grow to the floor before the collector
// runs; past it, the limit follows the live heap with Headroom to spare.
const (
	MinFloor = 64 << 20
	// MaxFloor leaves room for the binary's own resident pages (about 45
	// MiB with the AWS and Google SDKs linked in) under a 300 MiB budget;
	// 256 MiB ran ~10% faster at a million assets but reached 306 MiB.
	MaxFloor = 240 << 20
	Headroom = 96 << 20
)

// FloorFor sizes the floor for reading input bytes of inventory: twice the
// input, within [MinFloor, MaxFloor]. A small scan stays small; a large one
// gets the room that saves the collector most of its work.
func FloorFor(input int64) int64 {
	return min(max(2*input, MinFloor), MaxFloor)
}

// Start applies the tuning until stop is called. It does nothing when the
// user set GOGC or GOMEMLIMIT: their choice wins.
func Start(floor int64) (stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prevGC := debug.SetGCPercent(-1)
	prevLimit := debug.SetMemoryLimit(floor)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		follow(done, floor)
	}()
	return func() {
		close(done)
		<-exited // a last tick must not set the limit after it is restored
		debug.SetGCPercent(prevGC)
		debug.SetMemoryLimit(prevLimit)
	}
}

// follow raises the limit as the live heap grows, so that the collector
// never has to run back to back on a heap it cannot shrink.
//
// The runtime turns the memory limit into a heap goal by taking off what
// it holds besides heap objects and free heap memory: partly used spans,
// heap metadata, stacks (runtime.memoryLimitHeapGoal). At a million
// assets that is tens of MiB, so a limit of live+Headroom left the heap
// 10-30 MB to grow between two collections and the collector ran back to
// back (half the CPU of a scan). The limit therefore adds that overhead,
// measured at the same instant, and nothing else: Headroom is heap the
// scan may allocate before the next collection. Free heap memory is not
// added: the runtime already counts it as room, and adding it let the
// room grow by a Headroom with every collection.
func follow(done chan struct{}, floor int64) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	limit := floor
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		want, ok := limitFor(floor)
		if ok && want != limit {
			limit = want
			debug.SetMemoryLimit(limit)
		}
	}
}

var samples = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
}

// limitFor is the memory limit whose heap goal is Headroom above what the
// last collection found live, given what the runtime holds besides heap
// objects and free heap memory; never below floor.
func limitFor(floor int64) (int64, bool) {
	s := make([]metrics.Sample, len(samples))
	for i, n := range samples {
		s[i].Name = n
	}
	metrics.Read(s)
	var v [5]int64
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0, false
		}
		v[i] = int64(s[i].Value.Uint64())
	}
	live, total, released, objects, free := v[0], v[1], v[2], v[3], v[4]
	overhead := max(total-released-free-objects, 0)
	return max(floor, live+Headroom+overhead), true
}
