// Package testutil locates the repository's test data for tests in any
// package. It is only imported by tests.
package testutil
