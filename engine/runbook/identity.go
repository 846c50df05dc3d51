package runbook

import (
	"slices"
	"strings"
)

// Identity is who started a run or decided on a step: a person or
// automation signed in to vigil serve (Verified), or the OS user of a CLI
// process (not verified: nothing checked who typed the command).
type Identity struct {
	// Subject is the stable id: oidc:ISSUER#SUB, token:NAME, os:USER.
	Subject string   `json:"subject"`
	Name    string   `json:"name,omitempty"`
	Email   string   `json:"email,omitempty"`
	Groups  []string `json:"groups,omitempty"`
	// Aliases are other names the same person goes by (the CLI's --actor).
	Aliases  []string `json:"aliases,omitempty"`
	Verified bool     `json:"verified"`
	// Via says how the identity was learned (vigil serve (oidc), the CLI).
	Via string `json:"via,omitempty"`
	// Attestation is vigil serve's signed statement of who this is (for a
	// run's starter): see VerifyStarter.
	Attestation *Attestation `json:"attestation,omitempty"`
}

func (id Identity) String() string {
	switch {
	case id.Email != "" && id.Name != "" && id.Email != id.Name:
		return id.Name + " <" + id.Email + ">"
	case id.Name != "":
		return id.Name
	case id.Email != "":
		return id.Email
	}
	return id.Subject
}

// names are the lower-cased names an identity answers to: its subject,
// the user part of an os: subject, its name, email, the email's local
// part, and its aliases.
func (id Identity) names() []string {
	var out []string
	add := func(s string) {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(id.Subject)
	if u, ok := strings.CutPrefix(id.Subject, "os:"); ok {
		add(u)
	}
	add(id.Name)
	add(id.Email)
	if i := strings.IndexByte(id.Email, '@'); i > 0 {
		add(id.Email[:i])
	}
	for _, a := range id.Aliases {
		add(a)
		if i := strings.IndexByte(a, '@'); i > 0 {
			add(a[:i])
		}
	}
	return out
}

// SamePerson reports whether two identities may be one person: they share
// a subject or any name (an OS user "alice" and alice@acme.example
// count as one). The two-person rule errs towards "same": a false match
// makes a second approver necessary, never lets one person approve alone.
func (id Identity) SamePerson(other Identity) bool {
	mine := id.names()
	for _, n := range other.names() {
		if slices.Contains(mine, n) {
			return true
		}
	}
	return false
}

// Decision is a responder's answer to an approval request, given outside
// the process that runs the step (through vigil serve) and read back from
// the store.
type Decision struct {
	Approved bool     `json:"approved"`
	By       Identity `json:"by"`
	// Comment is what the approver wrote.
	Comment string `json:"comment,omitempty"`
	// ID identifies the recorded decision.
	ID string `json:"id,omitempty"`
	// Attestation is vigil serve's signature of the decision (see
	// VerifyApproval): a step that needs a second person takes no
	// decision without one.
	Attestation *Attestation `json:"attestation,omitempty"`
}
