package contract

import (
	"fmt"
	"strings"

	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// intent is what vigil means to send to a method, whatever the values: the
// body fields it sets (zero values included: the Go clients drop a zero
// value unless it is in ForceSendFields, and the API then applies its
// default), the query parameters it always sends, and lists that must
// not be empty. It is vigil's side of the contract, written from the
// actions' semantics, and the tests check the wire against it.
type intent struct {
	// Fields must be in the JSON body.
	Fields []string
	// OneOf: at least one field of each group must be there.
	OneOf [][]string
	// NonEmpty lists must have an element when they are there.
	NonEmpty []string
	// Query parameters must be in the URL.
	Query []string
	Why   string
}

// computeWrite is what every mutating Compute call carries: a requestId,
// so that a retry of a call the server completed is ignored, not done
// twice.
var computeWrite = intent{Query: []string{"requestId"}, Why: "mutating Compute calls carry a requestId so that their retries are safe"}

var intents = map[string][]intent{
	"compute.firewalls.insert": {computeWrite, {
		Fields:   []string{"name", "network", "direction", "priority", "targetTags", "description", "disabled"},
		OneOf:    [][]string{{"allowed", "denied"}, {"sourceRanges", "destinationRanges"}},
		NonEmpty: []string{"sourceRanges", "destinationRanges", "targetTags"},
		Why:      "a quarantine rule's priority (0) and ranges decide what it beats; without them the API applies priority 1000 and 0.0.0.0/0",
	}},
	"compute.firewalls.patch": {computeWrite, {
		OneOf:    [][]string{{"sourceRanges", "destinationRanges"}},
		NonEmpty: []string{"sourceRanges", "destinationRanges"},
		Why:      "a patch without ranges changes nothing, and an ingress rule patched to no source is open to 0.0.0.0/0",
	}},
	"compute.firewalls.delete":             {computeWrite},
	"compute.instances.setTags":            {computeWrite, {Fields: []string{"items", "fingerprint"}, Why: "an empty tag list is a value; the fingerprint guards the update"}},
	"compute.instances.setMetadata":        {computeWrite, {Fields: []string{"items", "fingerprint"}, Why: "an empty item list is a value; the fingerprint guards the update"}},
	"compute.instances.deleteAccessConfig": {computeWrite},
	"compute.instances.stop":               {computeWrite},
	"compute.instances.suspend":            {computeWrite},
	"compute.instances.resume":             {computeWrite},
	"compute.instances.delete":             {computeWrite},
	"compute.instances.insert": {computeWrite, {
		Fields: []string{"name", "machineType", "disks", "networkInterfaces", "labels"},
		Why:    "a recovered instance is labelled with the incident, run and step so a re-run finds it",
	}},
	"compute.projects.setCommonInstanceMetadata": {computeWrite, {Fields: []string{"items", "fingerprint"}, Why: "an empty item list is a value; the fingerprint guards the update"}},
	"compute.snapshots.insert": {computeWrite, {
		Fields: []string{"name", "sourceDisk", "labels", "description"},
		Why:    "evidence snapshots are labelled with the incident, run and step so a re-run finds them",
	}},
	"compute.images.insert": {computeWrite, {
		Fields: []string{"name", "sourceSnapshot", "labels", "description"},
		Why:    "evidence images are labelled with the incident, run and step so a re-run finds them",
	}},
}

func (in intent) check(c *checker, r gcpfake.Request, body any) {
	obj, _ := body.(map[string]any)
	for _, q := range in.Query {
		if !r.Query.Has(q) {
			c.add("vigil means to send query parameter %s, but the URL has none (%s)", q, in.Why)
		}
	}
	for _, f := range in.Fields {
		if _, ok := obj[f]; !ok {
			c.add("vigil means to set %s, but the JSON has no %q: the Go client dropped a zero value (add it to ForceSendFields; %s)", f, f, in.Why)
		}
	}
	for _, group := range in.OneOf {
		found := false
		for _, f := range group {
			_, ok := obj[f]
			found = found || ok
		}
		if !found {
			c.add("vigil means to set one of %s, but the JSON has none (%s)", strings.Join(group, ", "), in.Why)
		}
	}
	for _, f := range in.NonEmpty {
		if v, ok := obj[f]; ok {
			if l, isList := v.([]any); v == nil || isList && len(l) == 0 {
				c.add("%s is %s (%s)", f, fmt.Sprint(map[bool]string{true: "null", false: "an empty list"}[v == nil]), in.Why)
			}
		}
	}
}
