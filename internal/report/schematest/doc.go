// Package schematest validates report output against the published
// schema of its format: SARIF 2.1.0 with its JSON Schema (Compile,
// Validate), ASFF against Security Hub's API model (APIModel), OCSF
// against the OCSF schema's source tree (OCSF). It is for tests only: the
// vigil binary must not import it.
package schematest
