package runbook

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Binding is the detail of a run's first entry: it binds the runs row (the
// runbook, the plan, the variables with sensitive values hashed) and names
// the public key the journal is signed with.
type Binding struct {
	Run             string              `json:"run"`
	Runbook         string              `json:"runbook"`
	File            string              `json:"file"`
	RunbookSHA256   string              `json:"runbook_sha256"`
	Provider        string              `json:"provider"`
	Actor           string              `json:"actor"`
	CreatedAt       time.Time           `json:"created_at"`
	State           string              `json:"state,omitempty"`
	PlanSHA256      string              `json:"plan_sha256"`
	VariablesSHA256 string              `json:"variables_sha256"`
	Variables       map[string]*PlanVar `json:"variables"`
	PublicKey       string              `json:"public_key"`
	Holder          Holder              `json:"holder"`
	// JournalFormat is the sealing rules the run's entries follow (0 and
	// 1: the first ones, which stored JSON columns as written).
	JournalFormat int `json:"journal_format,omitempty"`
	// Starter is who started the run, for the two-person rule.
	Starter *Identity `json:"starter,omitempty"`
}

// planHash is the SHA-256 of the plan exactly as the runs row stores it.
func planHash(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}

// TamperKind says what verify found.
type TamperKind string

// What verify can find.
const (
	// TamperEntry: an entry was altered, removed or inserted.
	TamperEntry TamperKind = "entry"
	// TamperForged: an entry was added that the journal key did not sign.
	TamperForged TamperKind = "forged"
	// TamperRewritten: the chain was re-made (hashes recomputed) without the
	// key, or with another key.
	TamperRewritten TamperKind = "rewritten"
	// TamperTruncated: the anchor records entries the database lacks.
	TamperTruncated TamperKind = "truncated"
	// TamperRunRow: the runs row no longer matches what its journal binds.
	TamperRunRow TamperKind = "runs-row"
	// TamperUnanchored: the anchor has no record of a journal it should
	// hold (deleted or emptied, or another machine's anchor), so nothing
	// outside the database vouches for how far the journal went.
	TamperUnanchored TamperKind = "unanchored"
	// TamperEvidence: an evidence step succeeded, but its evidence entry,
	// written in the same transaction, is not in the journal.
	TamperEvidence TamperKind = "evidence-missing"
	// TamperOtherKey: the journal is consistent and its anchor names the
	// key that signed it, but that is not the journal key here.
	TamperOtherKey TamperKind = "other-key"
	// TamperDeleted: the run is gone from the database, but the anchor
	// records its journal.
	TamperDeleted TamperKind = "deleted"
	// TamperApproval: a step that needs a second person was approved (in
	// the journal, or by a decision in the store) without vigil serve's
	// signature, with another key's, or with one for another run, plan or
	// step; or serve did not vouch for the run's starter.
	TamperApproval TamperKind = "approval"
)

// Tamper describes the first problem verify found.
type Tamper struct {
	What TamperKind
	// Seq, Kind and Step name the entry, when there is one.
	Seq    int64
	Kind   string
	Step   string
	Reason string
}

func (t *Tamper) Error() string {
	entry := fmt.Sprintf("journal entry %d (%s %s)", t.Seq, t.Kind, t.Step)
	if t.Step == "" {
		entry = fmt.Sprintf("journal entry %d (%s)", t.Seq, t.Kind)
	}
	switch t.What {
	case TamperEntry:
		if t.Seq == 0 {
			return t.Reason
		}
		return entry + " " + t.Reason
	case TamperForged:
		return entry + " is forged: " + t.Reason
	case TamperRewritten:
		return "the chain was rewritten without the journal key from " + entry + ": " + t.Reason
	case TamperTruncated:
		return "the journal was truncated: " + t.Reason
	case TamperRunRow:
		return "the runs row was changed: " + t.Reason
	case TamperUnanchored:
		return "the journal is not anchored: " + t.Reason
	case TamperEvidence:
		return entry + " has no evidence entry: " + t.Reason
	case TamperOtherKey:
		return "the journal is signed with another key than the journal key here (not an edit): " + t.Reason
	case TamperDeleted:
		return "the run was deleted from the database: " + t.Reason
	case TamperApproval:
		if t.Seq == 0 {
			return "an approval is forged or unsigned: " + t.Reason
		}
		return entry + " is not an approval vigil serve signed: " + t.Reason
	}
	return t.Reason
}

func tamperAt(what TamperKind, e *Entry, reason string) *Tamper {
	return &Tamper{What: what, Seq: e.Seq, Kind: e.Kind, Step: e.Step, Reason: reason}
}

// Verification is what verify reports about a run's journal.
type Verification struct {
	Entries int
	Head    string
	// Key is the id of the key the journal is signed with.
	Key string
	// Anchored is the highest entry the anchor records (0: none).
	Anchored int64
	// Reanchored is the entry that records a resume re-anchoring the
	// journal on purpose (resume --reanchor) after its anchor was lost:
	// the entries before it are not covered by the anchor.
	Reanchored *Entry
	Tamper     *Tamper
}

// Verify checks a journal's chain and signatures, without a runs row, an
// anchor or a trusted key to compare with.
func Verify(entries []*Entry) *Tamper { return VerifyRun(nil, entries, nil, nil, "").Tamper }

// VerifyRun checks a run's journal: the hash chain, every signature, the
// heads an anchor recorded, the key against the trusted journal key (when
// given), the runs row against what the first entry binds, and that every
// evidence step that succeeded has its evidence entry. It reports the
// first problem: the entry, truncation, a rewritten chain, a forged entry,
// a changed runs row, a missing evidence entry, or a journal the anchor
// has no record of. An empty anchorName means there is no anchor to check
// against (heads is then ignored).
func VerifyRun(run *Run, entries []*Entry, heads []Head, trusted ed25519.PublicKey, anchorName string) *Verification {
	v := &Verification{Entries: len(entries)}
	anchored := map[int64]string{}
	anchorKey := ""
	var conflict int64
	var lowest int64
	for _, h := range heads {
		if prev, ok := anchored[h.Seq]; ok && prev != h.Hash && (conflict == 0 || h.Seq < conflict) {
			conflict = h.Seq
		}
		if _, ok := anchored[h.Seq]; !ok {
			anchored[h.Seq] = h.Hash
		}
		v.Anchored = max(v.Anchored, h.Seq)
		if lowest == 0 || h.Seq < lowest {
			lowest = h.Seq
		}
		if h.Key != "" {
			anchorKey = h.Key
		}
	}
	hasAnchor := anchorName != ""
	if !hasAnchor {
		anchorName = "the anchor"
	}
	n := int64(len(entries))
	if n == 0 {
		if v.Anchored > 0 {
			v.Tamper = &Tamper{What: TamperTruncated, Reason: fmt.Sprintf("every entry was deleted: %s records entry %d, the database has none", anchorName, v.Anchored)}
		} else {
			v.Tamper = &Tamper{What: TamperEntry, Reason: "the journal has no entries: a run is stored with its first entry, so they were deleted"}
		}
		return v
	}
	v.Head = entries[n-1].Hash

	// The chain, and the stored columns being what was sealed.
	format := journalFormat(entries[0])
	prev := ""
	for i, e := range entries {
		switch {
		case e.Seq != int64(i+1):
			v.Tamper = tamperAt(TamperEntry, e, fmt.Sprintf("is out of sequence (expected %d): an entry was removed or inserted", i+1))
		case e.Prev != prev:
			v.Tamper = tamperAt(TamperEntry, e, "does not follow the previous entry's hash")
		case columnProblem(e, format) != "":
			v.Tamper = tamperAt(TamperEntry, e, "was altered: "+columnProblem(e, format))
		case e.ComputeHash() != e.Hash:
			v.Tamper = tamperAt(TamperEntry, e, "was altered: its content does not match its hash")
		}
		if v.Tamper != nil {
			return v
		}
		prev = e.Hash
	}

	// The first entry binds the run and names its key.
	first := entries[0]
	var b Binding
	if first.Kind != EntryRunStarted || json.Unmarshal(first.Detail, &b) != nil {
		v.Tamper = tamperAt(TamperEntry, first, "is not the run's start: the entry that binds the run was removed")
		return v
	}
	pub, err := DecodePublicKey(b.PublicKey)
	if err != nil {
		v.Tamper = tamperAt(TamperRewritten, first, "it names no public key, so nothing in the journal is signed")
		return v
	}
	v.Key = KeyID(pub)

	// Signatures, and the heads the anchor recorded.
	var badSig *Entry
	for _, e := range entries {
		if !checkSig(pub, e.Hash, e.Sig) {
			badSig = e
			break
		}
	}
	var mismatch int64
	for _, seq := range slices.Sorted(maps.Keys(anchored)) {
		if seq <= n && entries[seq-1].Hash != anchored[seq] {
			mismatch = seq
			break
		}
	}
	if conflict > 0 && (mismatch == 0 || conflict < mismatch) && conflict <= n {
		mismatch = conflict
	}
	switch {
	case mismatch > 0 || (badSig != nil && badSig.Seq <= v.Anchored):
		at := mismatch
		reason := fmt.Sprintf("its hash is not the one %s recorded", anchorName)
		if badSig != nil && (at == 0 || badSig.Seq < at) {
			at, reason = badSig.Seq, "its signature does not verify with the run's key"
		}
		v.Tamper = tamperAt(TamperRewritten, entries[at-1], reason)
		return v
	case badSig != nil:
		// Past the anchored head: appended entries nobody signed, or (with
		// no anchor to tell) a chain re-made from this entry on.
		rest := true
		for _, e := range entries[badSig.Seq:] {
			if checkSig(pub, e.Hash, e.Sig) {
				rest = false
			}
		}
		if v.Anchored == 0 && badSig.Seq < n && rest {
			v.Tamper = tamperAt(TamperRewritten, badSig, "its signature, and every later one, does not verify with the run's key")
			return v
		}
		v.Tamper = tamperAt(TamperForged, badSig, "it is not signed by the run's key")
		return v
	case v.Anchored > n:
		v.Tamper = &Tamper{What: TamperTruncated, Reason: fmt.Sprintf("%s records entry %d (hash %.12s), the database ends at entry %d", anchorName, v.Anchored, anchored[v.Anchored], n)}
		return v
	}
	if trusted != nil && !pub.Equal(trusted) {
		if anchorKey != "" && anchorKey != v.Key {
			// The anchor saw another key sign the run as it was written.
			v.Tamper = tamperAt(TamperRewritten, first, fmt.Sprintf("the journal is signed with key %s, not with the key %s recorded (%s), nor with the journal key %s", v.Key, anchorName, anchorKey, KeyID(trusted)))
			return v
		}
		if hasAnchor && anchorKey == v.Key && v.Anchored > 0 {
			// The anchor, written as the run went, names the run's key: the
			// key here is another one (replaced, or another machine's), which
			// is not a rewrite; but nothing here can vouch for the run.
			v.Tamper = tamperAt(TamperOtherKey, first, fmt.Sprintf("the journal is signed with key %s, which %s recorded for it as it was written, but the journal key here is %s: the key that signed this run is not available here (was the key file replaced?). Verify with that key's public half: --journal-key OLD-PUBLIC.pem", v.Key, anchorName, KeyID(trusted)))
			return v
		}
		// Every entry chains and verifies with the run's own key: it was
		// written with another journal key (another machine's, or one
		// replaced since). Nothing here vouches for that key, so this is no
		// pass, but neither is it evidence of an edit: a rewrite with
		// another key shows in the anchor's heads, and is reported above.
		v.Tamper = tamperAt(TamperOtherKey, first, fmt.Sprintf("the journal was written with journal key %s, and the journal key here is %s; its entries chain and their signatures verify with %s, so nothing shows an edit, but nothing here vouches for that key either. Verify with that key's public half: --journal-key OTHER-PUBLIC.pem", v.Key, KeyID(trusted), v.Key))
		return v
	}
	if anchorKey != "" && anchorKey != v.Key {
		v.Tamper = tamperAt(TamperRewritten, first, fmt.Sprintf("the journal is signed with key %s, not with the key %s recorded (%s)", v.Key, anchorName, anchorKey))
		return v
	}

	// The runs row, and the evidence its plan calls for.
	if run != nil {
		if t := checkRunRow(run, &b, entries); t != nil {
			v.Tamper = t
			return v
		}
		if t := checkEvidence(run, entries); t != nil {
			v.Tamper = t
			return v
		}
	}

	// What the anchor vouches for. A run's first entry is anchored before
	// it commits, and every later write anchors its head before the next,
	// so an anchor that has no head of a journal (even of one entry), or
	// none of its first entry, lost them, unless the journal records a resume that
	// re-anchored it on purpose.
	if hasAnchor {
		v.Reanchored = reanchoredAt(entries)
		switch {
		case v.Anchored == 0:
			v.Tamper = &Tamper{What: TamperUnanchored, Reason: fmt.Sprintf("%s has no heads of this run, whose journal has %d entries: the anchor was deleted or emptied, or it is not the anchor the run was written with (a file on another machine?), so nothing outside the database shows whether entries were cut off the end", anchorName, n)}
		case lowest > 1 && (v.Reanchored == nil || lowest > v.Reanchored.Seq-1):
			v.Tamper = &Tamper{What: TamperUnanchored, Reason: fmt.Sprintf("%s has no head before entry %d, though every run's first entry is anchored: heads were removed from it", anchorName, lowest)}
		}
	}
	return v
}

// journalFormat reads the sealing rules a journal's first entry records;
// a first entry that does not parse is reported by the chain checks.
func journalFormat(first *Entry) int {
	var b struct {
		Format int `json:"journal_format"`
	}
	_ = json.Unmarshal(first.Detail, &b)
	return b.Format
}

// reanchoredAt returns the first entry recording a deliberate re-anchoring.
func reanchoredAt(entries []*Entry) *Entry {
	for _, e := range entries {
		if e.Kind == EntryRunReanchored {
			return e
		}
	}
	return nil
}

// checkEvidence finds an evidence step (evidence = true, or core.evidence)
// whose success the journal records without the evidence entry written in
// the same transaction.
func checkEvidence(run *Run, entries []*Entry) *Tamper {
	plan, err := DecodePlan(run.Plan)
	if err != nil {
		return nil // the plan is bound: checkRunRow has vouched for it
	}
	for i, e := range entries {
		if e.Kind != EntryStepSucceeded {
			continue
		}
		ps := plan.Step(e.Step)
		if ps == nil {
			ps = plan.Step(stepOf(e.Step) + "[*]")
		}
		if ps == nil || !(ps.Evidence || ps.Action == "core.evidence") {
			continue
		}
		found := false
		for _, later := range entries[i+1:] {
			if later.Kind == EntryEvidence && later.Step == e.Step {
				found = true
				break
			}
		}
		if !found {
			return tamperAt(TamperEvidence, e, "the step is an evidence step, and its result and its custody record are written together, so the evidence entry was removed")
		}
	}
	return nil
}

func checkRunRow(run *Run, b *Binding, entries []*Entry) *Tamper {
	diff := func(field, row, bound string) *Tamper {
		return &Tamper{What: TamperRunRow, Seq: 1, Kind: EntryRunStarted,
			Reason: fmt.Sprintf("its %s is %q, but the journal's first entry binds %q", field, row, bound)}
	}
	switch {
	case run.ID != b.Run:
		return diff("id", run.ID, b.Run)
	case run.Runbook != b.Runbook:
		return diff("runbook", run.Runbook, b.Runbook)
	case run.File != b.File:
		return diff("file", run.File, b.File)
	case run.Hash != b.RunbookSHA256:
		return diff("runbook hash", run.Hash, b.RunbookSHA256)
	case run.Provider != b.Provider:
		return diff("provider", run.Provider, b.Provider)
	case run.Actor != b.Actor:
		return diff("actor", run.Actor, b.Actor)
	case !run.CreatedAt.Equal(b.CreatedAt):
		return diff("creation time", run.CreatedAt.UTC().Format(time.RFC3339Nano), b.CreatedAt.UTC().Format(time.RFC3339Nano))
	case run.State != b.State:
		return diff("provider state", run.State, b.State)
	case planHash(run.Plan) != b.PlanSHA256:
		return diff("plan (sha256)", planHash(run.Plan), b.PlanSHA256)
	case run.PlanSHA256 != b.PlanSHA256:
		// The column that makes a saved plan applicable once.
		return diff("plan_sha256", run.PlanSHA256, b.PlanSHA256)
	}
	last := entries[0]
	for _, e := range entries {
		if _, ok := statusOf(e); ok {
			last = e
		}
	}
	if st, _ := statusOf(last); run.Status != st {
		return &Tamper{What: TamperRunRow, Seq: last.Seq, Kind: last.Kind,
			Reason: fmt.Sprintf("its status is %q, but the journal's last status entry (%d, %s) says %q", run.Status, last.Seq, last.Kind, st)}
	}
	// The time of the last change is the last entry's: every append sets
	// it in the same transaction (the timeline shows it).
	if end := entries[len(entries)-1]; !run.UpdatedAt.Equal(end.At) {
		return &Tamper{What: TamperRunRow, Seq: end.Seq, Kind: end.Kind,
			Reason: fmt.Sprintf("its last change time is %s, but the journal's last entry (%d, %s) was written at %s",
				run.UpdatedAt.UTC().Format(time.RFC3339Nano), end.Seq, end.Kind, end.At.UTC().Format(time.RFC3339Nano))}
	}
	return nil
}

// StoredDecision is a decision the store holds for a run (run_approvals).
type StoredDecision struct {
	Address  string
	PlanHash string
	Decision
}

// VerifyApprovals checks what the two-person rule rests on, with serve's
// pinned public key: for a run with a step that needs a second person,
// serve's statement about the starter (bound to the run's plan), every
// approval of such a step in the journal, and every decision on such a
// step the store holds (a row written by hand is reported, though the
// executor never took it). Call it on a journal VerifyRun found intact.
func VerifyApprovals(run *Run, entries []*Entry, decisions []StoredDecision, pub ed25519.PublicKey) *Tamper {
	plan, err := DecodePlan(run.Plan)
	if err != nil || FirstDistinct(plan) == "" || len(entries) == 0 {
		return nil
	}
	distinct := func(addr string) bool {
		ps := plan.Step(addr)
		if ps == nil {
			ps = plan.Step(stepOf(addr) + "[*]")
		}
		return ps != nil && ps.DistinctApprover
	}
	starter := StarterOf(run, entries)
	var approvals []*Entry
	for _, e := range entries {
		if e.Kind == EntryApproved && distinct(e.Step) {
			approvals = append(approvals, e)
		}
	}
	var rows []StoredDecision
	for _, d := range decisions {
		if distinct(d.Address) {
			rows = append(rows, d)
		}
	}
	if len(approvals) == 0 && len(rows) == 0 {
		return nil
	}
	if _, err := VerifyStarter(pub, starter, run.PlanSHA256, run.CreatedAt); err != nil {
		return &Tamper{What: TamperApproval, Seq: 1, Kind: EntryRunStarted, Reason: fmt.Sprintf("the run has approvals of steps that need a second person, but %v", err)}
	}
	for _, e := range approvals {
		var d struct {
			Att *Attestation `json:"attestation"`
		}
		_ = json.Unmarshal(e.Detail, &d)
		st, err := VerifyApproval(pub, d.Att, run.ID, run.PlanSHA256, e.Step, starter)
		if err == nil && e.Actor != st.Approver.String() {
			err = fmt.Errorf("the entry names %q as the approver, serve's statement %q", e.Actor, st.Approver.String())
		}
		if err == nil && !st.Approved {
			err = errors.New("serve's statement is a rejection")
		}
		if err != nil {
			return tamperAt(TamperApproval, e, "step."+e.Step+" needs a second person's approval, and "+err.Error())
		}
	}
	for _, d := range rows {
		st, err := VerifyApproval(pub, d.Attestation, run.ID, d.PlanHash, d.Address, starter)
		if err == nil && (st.Approved != d.Approved || st.Approver.Subject != d.By.Subject) {
			err = fmt.Errorf("the row says approved=%v by %s, serve's statement approved=%v by %s", d.Approved, d.By.Subject, st.Approved, st.Approver.Subject)
		}
		if err != nil {
			return &Tamper{What: TamperApproval, Step: d.Address, Reason: fmt.Sprintf("the store holds a decision on step.%s (plan sha256 %.12s) by %s that vigil serve did not sign for it: %v; it was written into the database by hand (no executor takes it)", d.Address, d.PlanHash, d.By, err)}
		}
	}
	return nil
}
