package cli

import (
	"os"
	"testing"
)

// TestMain keeps the tests' journal keys and default state out of the
// user's home: the journal key is made on first use in the configuration
// directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-cli-test")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir+"/config")
	os.Setenv("XDG_STATE_HOME", dir+"/state")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
