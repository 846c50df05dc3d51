// Package policy loads Rego policies (the built-in library and the user's),
// validates their # METADATA, compiles them once with network builtins
// removed, and evaluates assets against the policies that read their kind.
// It also applies waivers and runs the policies' Rego unit tests.
//
// It must not read inventories or call clouds: it judges one asset at a
// time, with cross-asset facts supplied as data.vigil.inventory.
package policy
