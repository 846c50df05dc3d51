//go:build race

package policy_test

// raceEnabled: the differential tests of the guards, which judge thousands
// of assets one at a time, run in the plain pass; under the race detector
// only the concurrent one does.
const raceEnabled = true
