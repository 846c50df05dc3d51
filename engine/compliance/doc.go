// Package compliance maps vigil's policies onto the controls of a
// benchmark (CIS AWS Foundations 3.0, CIS Google Cloud Foundations 3.0)
// and judges each control from a scan's findings: pass, fail, or not
// covered. It only reads policies' framework tags and findings; it judges
// no asset itself.
package compliance
