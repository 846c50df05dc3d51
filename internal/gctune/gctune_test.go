package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
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

// After a collection, what the limit leaves above what the runtime holds
// is Headroom: the overhead (free spans, metadata, stacks) is counted in,
// not taken out of the heap's room.
func TestLimitLeavesHeadroomOfHeap(t *testing.T) {
	keep := make([][]byte, 64)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	limit, ok := limitFor(0)
	if !ok {
		t.Fatal("runtime metrics not available")
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	held := int64(s[0].Value.Uint64() - s[1].Value.Uint64())
	live := int64(s[2].Value.Uint64())
	if live < 64<<20 {
		t.Fatalf("live heap %d, want the 64 MiB kept", live)
	}
	// allocation between the two reads is a few KiB; allow 2 MiB
	if room := limit - held; room < Headroom-2<<20 || room > Headroom+2<<20 {
		t.Errorf("limit %d leaves %d above the %d the runtime holds, want Headroom (%d)", limit, room, held, Headroom)
	}
	if limit < live+Headroom {
		t.Errorf("limit %d below live %d + Headroom", limit, live)
	}
	if f, _ := limitFor(1 << 40); f != 1<<40 {
		t.Errorf("limitFor(floor) = %d, want the floor when it is higher", f)
	}
	runtime.KeepAlive(keep)
}
