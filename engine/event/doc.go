// Package event reads the cloud events vigil watches for (AWS events
// delivered by EventBridge: CloudTrail management events, GuardDuty and
// Security Hub findings; Google Cloud Audit Logs entries routed by a log
// sink, and Security Command Center notifications) and says what each is
// about: which assets a configuration change touched, or which alerts an
// alert event carries.
//
// It only reads bodies; it must not call a cloud API, evaluate policies or
// keep state. An event vigil does not act on is ErrIgnored; a body that is
// no event at all is a *MalformedError, which a consumer must never retry.
package event
