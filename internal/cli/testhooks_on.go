//go:build vigil_testhooks

package cli

func init() { testHooks = true }
