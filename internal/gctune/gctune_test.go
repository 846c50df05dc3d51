package gctune

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestFloorFor(t *testing.T) {
	for _, tt := range []struct{ input, want int64 }{
		{0, MinFloor}, {10 << 20, MinFloor}, {100 << 20, 200 << 20}, {1 << 30, MaxFloor},
	} {
		if got := FloorFor(tt.input); got != tt.want {
			t.Errorf("FloorFor(%d) = %d, want %d", tt.input, got, tt.want)
		}
	}
}

func TestStartRestores(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	gc := debug.SetGCPercent(100)
	defer debug.SetGCPercent(gc)
	stop := Start(MinFloor)
	if got := debug.SetMemoryLimit(-1); got != MinFloor {
		t.Errorf("limit while tuned = %d, want %d", got, MinFloor)
	}
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GOGC while tuned = %d, want off", got)
	}
	stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after stop = %d, want 100 restored", got)
	}
}

func TestUserSettingsWin(t *testing.T) {
	t.Setenv("GOGC", "50")
	gc := debug.SetGCPercent(50)
	defer debug.SetGCPercent(gc)
	stop := Start(MinFloor)
	defer stop()
	if got := debug.SetGCPercent(50); got != 50 {
		t.Errorf("GOGC = %d, want the user's 50", got)
	}
}

// The runtime's heap goal under a memory limit is the limit less what it
// holds besides heap objects and free heap memory (runtime
// memoryLimitHeapGoal: limit - (mappedReady - heapFree - heapAlloc)). The
// limit must make that goal Headroom past live, even right after a
// collection that left much memory free: counting free memory in the limit
// as well would give it twice, and the room would grow with every cycle.
func TestLimitGivesHeadroomOfHeap(t *testing.T) {
	prevGC := debug.SetGCPercent(-1)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	defer func() { debug.SetGCPercent(prevGC); debug.SetMemoryLimit(prevLimit) }()
	keep := make([][]byte, 64)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
	}
	garbage := make([][]byte, 256)
	for i := range garbage {
		garbage[i] = make([]byte, 1<<20)
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	runtime.GC()
	limit, ok := limitFor(0)
	if !ok {
		t.Fatal("runtime metrics not available")
	}
	names := []string{"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes",
		"/memory/classes/heap/free:bytes", "/memory/classes/heap/objects:bytes", "/gc/heap/live:bytes"}
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	v := make([]int64, len(s))
	for i := range s {
		v[i] = int64(s[i].Value.Uint64())
	}
	free, live := v[2], v[4]
	if free < 128<<20 {
		t.Logf("only %d MiB free after the collection: the test tells less", free>>20)
	}
	if live < 64<<20 {
		t.Fatalf("live heap %d, want the 64 MiB kept", live)
	}
	goal := limit - (v[0] - v[1] - v[2] - v[3])
	// allocation between the two reads is a few KiB; allow 2 MiB
	if room := goal - live; room < Headroom-2<<20 || room > Headroom+2<<20 {
		t.Errorf("limit %d MiB gives a heap goal %d MiB past live (%d MiB free), want Headroom (%d MiB)",
			limit>>20, room>>20, free>>20, Headroom>>20)
	}
	if f, _ := limitFor(1 << 40); f != 1<<40 {
		t.Errorf("limitFor(floor) = %d, want the floor when it is higher", f)
	}
	runtime.KeepAlive(keep)
}

// stop restores the settings for good: no last tick of the follower may
// set the limit again afterwards.
func TestStopIsFinal(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	prev := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prev)
	for range 20 {
		stop := Start(MinFloor)
		time.Sleep(50 * time.Millisecond) // a tick is due about now
		stop()
		time.Sleep(time.Millisecond)
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			t.Fatalf("limit after stop = %d, want the previous one restored", got)
		}
	}
}
