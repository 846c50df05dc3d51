// Package policies holds vigil's built-in Rego library, embedded in the
// binary: the policies under vigil.policies.*, their _test.rego files, and
// the helper package vigil.lib.
package policies
