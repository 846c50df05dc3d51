package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/limits"
)

// takeStdin hands out standard input once: "-" given twice (two inputs,
// or an inventory and an alert) cannot both read it.
func (a *app) takeStdin() (io.Reader, error) {
	if a.stdinTaken {
		return nil, &exitError{code: ExitError, err: errors.New("- (standard input) given twice")}
	}
	if a.stdin == nil {
		return nil, &exitError{code: ExitError, err: errors.New("- given, but there is no standard input")}
	}
	a.stdinTaken = true
	return a.stdin, nil
}

// stdinInventory replaces a "-" among inventory arguments with a copy of
// standard input in a temporary file: inventories are detected and read
// by path (a format is sniffed from the first bytes, then the file is
// read again in parallel). rename gives errors about that copy back the
// name "-"; cleanup removes it.
func (a *app) stdinInventory(args []string) (paths []string, rename func(error) error, cleanup func(), err error) {
	paths, _, rename, cleanup, err = a.stdinInventoryNamed(args)
	return paths, rename, cleanup, err
}

// stdinInventoryNamed is stdinInventory that also returns the names for
// inventory.FileSet.Names.
func (a *app) stdinInventoryNamed(args []string) (paths []string, names map[string]string, rename func(error) error, cleanup func(), err error) {
	rename = func(err error) error { return err }
	cleanup = func() {}
	i := -1
	for n, arg := range args {
		if arg == stdinArg {
			if i >= 0 {
				return nil, nil, rename, cleanup, &exitError{code: ExitError, err: errors.New("- (standard input) given twice")}
			}
			i = n
		}
	}
	if i < 0 {
		return args, nil, rename, cleanup, nil
	}
	in, err := a.takeStdin()
	if err != nil {
		return nil, nil, rename, cleanup, err
	}
	dir, err := os.MkdirTemp("", "vigil-stdin-")
	if err != nil {
		return nil, nil, rename, cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, "stdin.ndjson")
	out, err := os.Create(path)
	if err != nil {
		return nil, nil, rename, cleanup, err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, rename, cleanup, fmt.Errorf("read standard input: %w", err)
	}
	paths = append([]string(nil), args...)
	paths[i] = path
	rename = func(err error) error {
		if err == nil {
			return nil
		}
		var pe *inventory.ParseError
		if errors.As(err, &pe) && pe.File == path {
			e := *pe
			e.File = stdinArg
			if ee, ok := err.(*exitError); ok {
				return &exitError{code: ee.code, err: &e}
			}
			return &e
		}
		if ee, ok := err.(*exitError); ok && ee.err != nil && strings.Contains(ee.err.Error(), path) {
			return &exitError{code: ee.code, err: errors.New(strings.ReplaceAll(ee.err.Error(), path, stdinArg))}
		}
		if strings.Contains(err.Error(), path) {
			return errors.New(strings.ReplaceAll(err.Error(), path, stdinArg))
		}
		return err
	}
	return paths, map[string]string{path: stdinArg}, rename, cleanup, nil
}

// stdinAlerts reads the alerts of standard input (the "-" of alert show
// and triage --alert), named "-".
func (a *app) stdinAlerts() ([]*alert.Alert, error) {
	in, err := a.takeStdin()
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(in, limits.MaxJSONFile+1))
	if err != nil {
		return nil, &exitError{code: ExitError, err: fmt.Errorf("read standard input: %w", err)}
	}
	if len(raw) > limits.MaxJSONFile {
		return nil, &exitError{code: ExitError, err: fmt.Errorf("standard input is larger than %d MiB: %w", limits.MaxJSONFile>>20, limits.ErrTooLarge)}
	}
	as, err := alert.Parse(raw)
	var le *limits.Error
	if errors.As(err, &le) {
		le.File = stdinArg
		return nil, &exitError{code: ExitError, err: le}
	}
	if err != nil {
		return nil, &exitError{code: ExitError, err: fmt.Errorf("%s: %w", stdinArg, err)}
	}
	for _, al := range as {
		al.File = stdinArg
	}
	return as, nil
}
