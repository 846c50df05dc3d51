// Package report renders scan results: a table for people, JSON for
// scripts, SARIF for code scanning, JUnit for CI dashboards and GitHub
// workflow annotations. Renderers only print the plain data they are given;
// they never decide what a finding is.
package report
