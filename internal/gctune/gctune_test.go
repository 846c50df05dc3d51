package gctune

import (
	"runtime/debug"
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
