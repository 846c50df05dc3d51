// Package limits bounds what vigil is willing to parse: how deeply an HCL
// or JSON input may nest and how large one value in it may be. Go's stack
// is large but not endless, and every parser and evaluator behind vigil
// (hclsyntax, cty, encoding/json, OPA) recurses once per level: 100,000
// nested brackets crash the process instead of failing with a diagnostic.
//
// Every place that reads vigil.hcl, waivers, runbooks, variable files,
// inventories, Terraform plans, alerts or saved plans runs the scan here
// first. The scans are single passes over the bytes, without recursion and
// without allocating per token, so a hostile file costs no more to refuse
// than to read. They must not parse or interpret anything beyond what the
// bound needs.
package limits
