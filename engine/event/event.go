package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ir/vigil/engine/alert"
)

// Kinds of events.
const (
	// KindConfig is a change to the configuration of assets.
	KindConfig = "config"
	// KindAlert is a provider finding (GuardDuty, Security Hub, SCC).
	KindAlert = "alert"
)

// Event is one cloud event, read from a queue message.
type Event struct {
	// ID is stable across redeliveries and replays of the same event: the
	// CloudTrail event id, the EventBridge event id, the log entry's log
	// name and insert id, or the SCC finding's name and event time.
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Provider string `json:"provider"` // aws, gcp
	// Source is cloudtrail, guardduty, securityhub, audit-log or scc.
	Source string `json:"source"`
	// Name is what happened: the API call (AuthorizeSecurityGroupIngress,
	// v1.compute.firewalls.insert) or the finding type.
	Name   string    `json:"name"`
	Time   time.Time `json:"time"`
	Scope  string    `json:"scope,omitempty"` // account or project id
	Region string    `json:"region,omitempty"`
	// Actor is who made the call (an ARN, a principal email).
	Actor string `json:"actor,omitempty"`
	// Changes are the assets a configuration event touched.
	Changes []Change `json:"changes,omitempty"`
	// Alerts are the findings of an alert event, mapped to assets.
	Alerts []*alert.Alert `json:"alerts,omitempty"`
	// Body is the event itself, as delivered (for alert files and
	// --from-alert).
	Body json.RawMessage `json:"-"`
}

// Change is an asset a configuration event touched. vigil reads it again
// from the provider rather than trusting the event's copy of the request.
type Change struct {
	Provider string `json:"provider"`
	// Type is the native type, as the inventory names it:
	// AWS::EC2::SecurityGroup, compute.googleapis.com/Firewall.
	Type string `json:"type"`
	// ID is the asset id (an ARN, a CAI full resource name). For a GCP
	// project named by its id rather than its number, ID uses the id and
	// ProjectID is set: the consumer resolves the number.
	ID string `json:"id"`
	// Name is the provider's own identifier: sg-..., a bucket name, a
	// trail name, a detector id, an access key id, a firewall name.
	Name   string `json:"name"`
	Scope  string `json:"scope"` // account or project id
	Region string `json:"region,omitempty"`
	// User is the IAM user of an access key.
	User string `json:"user,omitempty"`
	// Created: the event made it, so not finding it yet means it is not
	// visible yet (eventual consistency), not that it is gone.
	Created bool `json:"created,omitempty"`
	// Deleted: the event removed it.
	Deleted bool `json:"deleted,omitempty"`
	// Dependents: the change alters what account- or project-wide policies
	// see (a trail, a detector, a project's IAM policy), so the scope's own
	// asset must be judged again too.
	Dependents bool `json:"dependents,omitempty"`
}

// ErrIgnored marks a well-formed event vigil has nothing to do for: an API
// call it does not watch, a call that failed, a detail type it does not
// read. Consumers acknowledge it.
var ErrIgnored = errors.New("event ignored")

// ErrNotRead marks (beside ErrIgnored) a change vigil acts on in general
// but cannot re-read in this form: consumers say so louder than of an
// ignored event, because it may matter (an account-level S3 public access
// block deleted).
var ErrNotRead = errors.New("change not re-read")

// notRead returns an ErrIgnored and ErrNotRead that says why.
func notRead(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrIgnored, ErrNotRead, fmt.Sprintf(format, args...))
}

// ignored returns an ErrIgnored that says why.
func ignored(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrIgnored, fmt.Sprintf(format, args...))
}

// MalformedError is a body that is not an event vigil can read. Retrying
// cannot fix it: it goes to the dead-letter queue.
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return "malformed event: " + e.Reason }

func malformed(format string, args ...any) error {
	return &MalformedError{Reason: fmt.Sprintf(format, args...)}
}

// IsMalformed reports whether err is a *MalformedError.
func IsMalformed(err error) bool {
	var me *MalformedError
	return errors.As(err, &me)
}

// MaxBody is the largest body read: SQS caps messages at 256 KiB and
// Pub/Sub at 10 MB; a log entry is at most 256 KiB.
const MaxBody = 10 << 20

// Parse reads a queue message body: an EventBridge event (as EventBridge
// delivers it to SQS, or wrapped in an SNS notification), a Cloud Logging
// LogEntry (as a log sink publishes it to Pub/Sub), a Security Command
// Center notification, or a Pub/Sub push envelope around one of those.
func Parse(body []byte) (*Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, malformed("empty body")
	}
	if len(body) > MaxBody {
		return nil, malformed("body of %d bytes is larger than %d", len(body), MaxBody)
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(body[:se.Offset], []byte("\n"))
			return nil, malformed("line %d: invalid JSON: %v", line, err)
		}
		return nil, malformed("invalid JSON: %v", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, malformed("not a JSON object")
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(top[k], &s)
		return s
	}
	switch {
	case top["detail-type"] != nil && top["source"] != nil:
		return eventBridge(body)
	case str("Type") == "Notification" && top["Message"] != nil:
		// SNS to SQS without raw message delivery wraps the event.
		return Parse([]byte(str("Message")))
	case top["protoPayload"] != nil && top["logName"] != nil:
		return logEntry(body)
	case top["finding"] != nil && (top["notificationConfigName"] != nil || top["resource"] != nil):
		return sccNotification(body)
	case top["message"] != nil:
		var env struct {
			Message struct {
				Data string `json:"data"`
			} `json:"message"`
		}
		if json.Unmarshal(body, &env) == nil && env.Message.Data != "" {
			data, err := base64.StdEncoding.DecodeString(env.Message.Data)
			if err != nil {
				return nil, malformed("Pub/Sub push envelope: data is not base64: %v", err)
			}
			return Parse(data)
		}
	}
	return nil, malformed("not an event vigil reads: expected an EventBridge event (detail-type, source, detail), " +
		"a Cloud Logging entry (logName, protoPayload) or a Security Command Center notification (finding)")
}

// alerts maps an alert body with the alert package and fills the event.
func alerts(ev *Event, body []byte) (*Event, error) {
	as, err := alert.Parse(body)
	if err != nil {
		return nil, malformed("%s finding: %v", ev.Source, err)
	}
	ev.Kind, ev.Alerts = KindAlert, as
	if ev.Name == "" && len(as) > 0 {
		ev.Name = as[0].Type
	}
	if ev.Scope == "" && len(as) > 0 {
		ev.Scope = as[0].Scope
	}
	ev.Body = append(json.RawMessage(nil), body...)
	return ev, nil
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// lastSegment returns what follows the last slash.
func lastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }
