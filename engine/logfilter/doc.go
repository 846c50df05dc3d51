// Package logfilter reads CloudWatch Logs metric filter patterns: does a
// pattern match a CloudTrail event of which some fields are known (its
// eventName and eventSource)? It answers in three-valued logic: a term on
// a field the event does not fix is Unknown, so a pattern "covers" an API
// call only when it matches that call whatever the other fields are.
// VGL-LOG-003 reads the calls each filter covers (CIS AWS 4.x), instead
// of finding call names as substrings of the pattern. ParseGCP reads Cloud
// Logging queries (log-based metrics) the same way: the CIS GCP 2.x
// changes a filter covers (GCPChanges), whatever its whitespace, term
// order or value lists.
package logfilter
