package gcpfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// operation is a Compute Engine operation: it answers RUNNING, and its
// effect happens when a look finds it DONE (Operation resource: "status:
// PENDING, RUNNING, or DONE").
type operation struct {
	doc    Doc
	looks  int
	effect func() error
	// undo puts back what the call changed when it started (a STOPPING
	// status) if the operation fails.
	undo func()
	done bool
}

// startOp records an operation whose effect waits for it to be done, and
// returns the answer to the call that started it. (A call with a
// requestId seen before gets the first operation back before it comes
// here: see compute.)
func (f *Fake) startOp(w http.ResponseWriter, r *http.Request, project, zone, kind, target string, effect func() error, undo func()) {
	f.seq++
	name := fmt.Sprintf("operation-%d-%d", f.now().Unix(), f.seq)
	path := "projects/" + project + "/global/operations/" + name
	if zone != "" {
		path = "projects/" + project + "/zones/" + zone + "/operations/" + name
	}
	doc := Doc{"kind": "compute#operation", "id": f.nextID(), "name": name, "operationType": kind, "status": "RUNNING", "progress": 0,
		"targetLink": f.selfLink(target), "insertTime": f.timestamp(), "startTime": f.timestamp(), "selfLink": f.selfLink(path),
		"user": "vigil@acme.example"}
	if zone != "" {
		doc["zone"] = f.selfLink("projects/" + project + "/zones/" + zone)
	}
	if ft := f.opFault; ft != nil {
		f.opFault = nil
		effect = func() error {
			return fmt.Errorf("the operation failed on the server (an injected fault)")
		}
	}
	op := &operation{doc: doc, effect: effect, undo: undo}
	f.ops[path] = op
	if id := r.URL.Query().Get("requestId"); id != "" {
		f.requestIDs[id] = path
	}
	writeJSON(w, clone(doc))
}

// look is one Get of an operation: after OpLooks of them it is done and
// its effect happens.
func (f *Fake) look(op *operation) Doc {
	op.looks++
	if op.looks >= f.OpLooks {
		f.finish(op)
	}
	return clone(op.doc)
}

func (f *Fake) finish(op *operation) {
	if op.done {
		return
	}
	op.done = true
	op.doc["status"], op.doc["progress"], op.doc["endTime"] = "DONE", 100, f.timestamp()
	if op.effect == nil {
		return
	}
	if err := op.effect(); err != nil {
		op.doc["error"] = map[string]any{"errors": []any{map[string]any{"code": "RESOURCE_OPERATION_FAILED", "message": err.Error()}}}
		op.doc["httpErrorStatusCode"], op.doc["httpErrorMessage"] = 400, "BAD REQUEST"
		if op.undo != nil {
			op.undo()
		}
	}
}

// AwaitOperation polls the Compute operation in body (the answer to an
// insert, patch, ...) through the fake's REST base until it is DONE, as a
// client does; the change the call asked for happens only then. Tests that
// change the fake over the wire use it.
func AwaitOperation(rest string, body io.Reader) error {
	var op struct{ SelfLink, Status string }
	if err := json.NewDecoder(body).Decode(&op); err != nil {
		return fmt.Errorf("read the operation: %w", err)
	}
	_, path, ok := strings.Cut(op.SelfLink, "/compute/v1/")
	if !ok {
		return fmt.Errorf("operation self link %q is not a Compute URL", op.SelfLink)
	}
	for i := 0; op.Status != "DONE"; i++ {
		if i == 100 {
			return fmt.Errorf("operation %s still %s after %d looks", path, op.Status, i)
		}
		resp, err := http.Get(rest + "/compute/v1/" + path)
		if err != nil {
			return err
		}
		err = json.NewDecoder(resp.Body).Decode(&op)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("read the operation: %w", err)
		}
	}
	return nil
}
