// Package compliance maps vigil's policies onto the controls of a
// benchmark (CIS AWS Foundations 3.0, CIS Google Cloud Foundations 3.0)
// and judges each control from a scan's findings and from what its assets
// showed of the facts the policies read: pass, fail, not assessed (the
// facts were absent), partial (vigil checks only part of the control) or
// not covered. It judges no asset itself.
package compliance
