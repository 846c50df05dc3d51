// Package naming makes the names and labels of what the gcp.* actions
// create (snapshots, images, instances), for the real provider and the
// simulated cloud alike: a rehearsal makes what the real run makes, under
// the same names, and a re-run for the same incident finds it.
//
// It is pure computation: it must not import a cloud SDK.
package naming
