package runbook

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// What vigil serve vouches for with its signing key (apart from the
// journal key, which every CLI that applies runs holds): who a signed-in
// user is, and each decision it records on a step. The executor and verify
// trust a decision on a step that needs a second person only when it
// verifies against the serve public key pinned here (vigil.hcl's
// serve_public_key or --serve-public-key), never one fetched from the
// server being trusted, so that a row written into the database by hand,
// or a fake /api/whoami, approves nothing.

// The contexts separate serve's statements from each other and from the
// journal's signatures.
const (
	identityContext = "vigil serve identity v1\n"
	approvalContext = "vigil serve approval v1\n"
)

// StarterAudience is the audience of the identity statements serve issues
// to a CLI that starts a run: they vouch for the starter of one plan.
const StarterAudience = "vigil runbook starter"

// StarterRoles are the roles serve lets start a run (auth.Responder and
// above): a starter statement naming another role vouches for nothing.
var StarterRoles = map[string]bool{"responder": true, "approver": true, "admin": true}

// StarterTTL is how long a starter statement is good for.
const StarterTTL = 10 * time.Minute

// Attestation is a statement signed by vigil serve: the statement's JSON
// text exactly as signed, the signing key's id and the signature.
type Attestation struct {
	Statement string `json:"statement"`
	Key       string `json:"key"`
	Sig       string `json:"sig"`
}

// IdentityStatement is who serve signed a user in as, for whom (Audience)
// and until when; PlanSHA256 binds it to the plan the user starts.
type IdentityStatement struct {
	Identity   Identity  `json:"identity"`
	Role       string    `json:"role"`
	Audience   string    `json:"aud"`
	PlanSHA256 string    `json:"plan_sha256,omitempty"`
	IssuedAt   time.Time `json:"iat"`
	ExpiresAt  time.Time `json:"exp"`
}

// ApprovalStatement is one decision serve recorded: on which run, plan
// and step instance, by whom, for a run started by whom, and when.
type ApprovalStatement struct {
	Run        string    `json:"run"`
	PlanSHA256 string    `json:"plan_sha256"`
	Address    string    `json:"address"`
	Approved   bool      `json:"approved"`
	Approver   Identity  `json:"approver"`
	Starter    Identity  `json:"starter"`
	Decision   string    `json:"decision"`
	At         time.Time `json:"at"`
}

func sign(key ed25519.PrivateKey, context string, v any) *Attestation {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return &Attestation{Statement: string(body), Key: KeyID(key.Public().(ed25519.PublicKey)),
		Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(context+string(body))))}
}

// open checks the signature against pub and reads the statement.
func (a *Attestation) open(pub ed25519.PublicKey, context string, v any) error {
	if a == nil || a.Sig == "" {
		return errors.New("it is not signed by vigil serve")
	}
	raw, err := base64.StdEncoding.DecodeString(a.Sig)
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, []byte(context+a.Statement), raw) {
		if a.Key != "" && a.Key != KeyID(pub) {
			return fmt.Errorf("it is signed with key %s, not with the trusted serve key %s", a.Key, KeyID(pub))
		}
		return fmt.Errorf("its signature does not verify with the trusted serve key %s", KeyID(pub))
	}
	if err := json.Unmarshal([]byte(a.Statement), v); err != nil {
		return fmt.Errorf("its statement does not read: %v", err)
	}
	return nil
}

// SignIdentity signs an identity statement with serve's signing key.
func SignIdentity(key ed25519.PrivateKey, st *IdentityStatement) *Attestation {
	s := *st
	s.Identity.Attestation = nil
	return sign(key, identityContext, &s)
}

// SignApproval signs an approval statement with serve's signing key.
func SignApproval(key ed25519.PrivateKey, st *ApprovalStatement) *Attestation {
	s := *st
	s.Approver.Attestation, s.Starter.Attestation = nil, nil
	return sign(key, approvalContext, &s)
}

// VerifyStarter checks that serve vouched for id as the starter of the
// plan planHash at time at: its attestation verifies with pub, names the
// same subject, is meant for starting runs, binds the plan and had not
// expired.
func VerifyStarter(pub ed25519.PublicKey, id Identity, planHash string, at time.Time) (*IdentityStatement, error) {
	if pub == nil {
		return nil, errors.New("no serve public key is pinned here to check who started the run with (serve_public_key in vigil.hcl, --serve-public-key or VIGIL_SERVE_PUBLIC_KEY)")
	}
	var st IdentityStatement
	if err := id.Attestation.open(pub, identityContext, &st); err != nil {
		return nil, fmt.Errorf("the starter %s is not vouched for by vigil serve: %w", id, err)
	}
	switch {
	case st.Identity.Subject != id.Subject:
		return nil, fmt.Errorf("the starter is %s, but serve's statement names %s", id.Subject, st.Identity.Subject)
	case st.Audience != StarterAudience:
		return nil, fmt.Errorf("serve's statement about %s is for %q, not for starting a run", id, st.Audience)
	case !StarterRoles[st.Role]:
		return nil, fmt.Errorf("serve signed %s in as %q, and starting a run needs the responder role or higher", id, st.Role)
	case st.PlanSHA256 != planHash:
		return nil, fmt.Errorf("serve's statement about %s is for plan sha256 %.12s, not this run's %.12s", id, st.PlanSHA256, planHash)
	case at.Before(st.IssuedAt.Add(-time.Minute)) || at.After(st.ExpiresAt):
		return nil, fmt.Errorf("serve's statement about %s was good from %s to %s, not at %s", id, st.IssuedAt.UTC().Format(time.RFC3339), st.ExpiresAt.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	return &st, nil
}

// VerifyApproval checks a decision's attestation: signed with pub, on this
// run, plan hash and address, for a run started by starter, by someone
// else than starter when the decision approves.
func VerifyApproval(pub ed25519.PublicKey, a *Attestation, runID, planHash, addr string, starter Identity) (*ApprovalStatement, error) {
	st, err := openApproval(pub, a, runID, planHash, addr, starter)
	if err == nil && st.Approved && st.Approver.SamePerson(starter) {
		return nil, fmt.Errorf("%s started the run and cannot also approve it", st.Approver)
	}
	return st, err
}

// openApproval is VerifyApproval without the two-person rule, which the
// executor applies itself (CheckDecider), journaling a refusal.
func openApproval(pub ed25519.PublicKey, a *Attestation, runID, planHash, addr string, starter Identity) (*ApprovalStatement, error) {
	if pub == nil {
		return nil, errors.New("no serve public key is pinned here to check it with (serve_public_key in vigil.hcl, --serve-public-key or VIGIL_SERVE_PUBLIC_KEY)")
	}
	var st ApprovalStatement
	if err := a.open(pub, approvalContext, &st); err != nil {
		return nil, err
	}
	switch {
	case st.Run != runID:
		return nil, fmt.Errorf("serve signed it for run %s, not %s", st.Run, runID)
	case st.PlanSHA256 != planHash:
		return nil, fmt.Errorf("serve signed it for plan sha256 %.12s, not %.12s", st.PlanSHA256, planHash)
	case st.Address != addr:
		return nil, fmt.Errorf("serve signed it for step.%s, not step.%s", st.Address, addr)
	case st.Starter.Subject != starter.Subject:
		return nil, fmt.Errorf("serve signed it for a run started by %s, not by %s", st.Starter.Subject, starter.Subject)
	}
	return &st, nil
}
