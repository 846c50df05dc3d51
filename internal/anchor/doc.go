// Package anchor keeps copies of runbook journal heads outside the state
// database (runbook.Anchor): an append-only, fsynced file by default, or
// an S3 or Cloud Storage bucket whose Object Lock or retention policy keeps
// what was written. A journal whose database was cut short or rewritten
// then disagrees with its anchor, and verify says so.
//
// It stores heads and reads them back; it holds no verification logic.
package anchor
