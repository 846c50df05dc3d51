// Package schematest validates report output against the published JSON
// schema of its format (SARIF 2.1.0 now; JUnit, ASFF or OCSF schemas can
// use the same helper). It is for tests only: the vigil binary must not
// import it.
package schematest
